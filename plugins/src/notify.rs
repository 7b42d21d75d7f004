//! `notify`: tells chat groups what needs them. Routes in the plugin's settings say which
//! events of which repositories go to which channel (channels themselves — DingTalk, Slack,
//! Feishu, WeCom robots — are configured centrally under `[chat.channels.<name>]`), in the
//! channel's language. The messages are [`Action::Notify`] effects: journaled, sent once,
//! rate-limited and coalesced into a digest per channel by the service. No commands.
//!
//! Events a route can name:
//! * pull requests: `opened` (not as a draft), `ready_for_review`, `review_requested` (the
//!   requested users @'d), `lgtm` and `approved` (the label added), `merged`, `closed`
//!   (without merging), `reopened`;
//! * CI, per context or system (routes filter with `contexts` and `systems`): `ci_failed`
//!   (failure or error), `ci_passed`, `ci_recovered` (passed, and the context's last finish
//!   before — on the same head, else on the PR's previous head — was a failure or error).
//!   Plugins see a CI event only when its state changed, so one state is told once;
//! * `drone_finished`: a Drone build finished (passed, failed, errored or cancelled), with a
//!   button to the build and, for a passed build, one to the `deploy` URL when configured;
//! * `bosun_failed`: bosun gave up on a delivery about the repository after its last attempt.
//!
//! One event can be several kinds, most specific first (a Drone build that recovered is
//! `drone_finished`, then `ci_recovered`, then `ci_passed`); each route sends the first kind it
//! asks for, so every route gets at most one message per event.
//!
//! Messages come from templates, one title and one text per kind and language (English and
//! Chinese built in, see [`default_template`]); a route can override either per kind. A
//! template is plain text with `{placeholder}`s from [`placeholders`] (`{{` and `}}` are
//! literal braces); there are no conditions or loops, so a template cannot fail at send time,
//! and unknown placeholders are refused at startup. (askama, which renders bosun's pages,
//! compiles its templates into the binary and cannot take them from the configuration; a
//! runtime engine such as minijinja would add conditions, loops and filters that can fail
//! while a message is sent, for wording that needs none of them.) A route's `language` wins
//! over its channel's (`[chat.channels.<name>] language`), which defaults to English.
//!
//! Not in Prow (Prow's Slack reporter posts job results only).

use crate::{
    Action, Button, ChatMessage, CiEvent, CiState, CiSystem, Context, DeliveryFailedEvent, Event,
    ItemKind, ItemRef, Login, Plugin, PluginError, PluginHelp, PrAction, PullRequestEvent,
    RepoPath,
};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::BTreeMap;

/// `[settings.notify."org"]` (or `"org/repo"`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySettings {
    /// Where events go; an event matching several routes goes to each of their channels once.
    pub routes: Vec<Route>,
    /// A button on passed Drone builds' messages leading to the deploy (promote) page.
    pub deploy: Option<Deploy>,
}

/// One routing rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The channel's name under `[chat.channels]`.
    pub channel: String,
    /// The event kinds to send (see the module docs); empty means every kind.
    #[serde(default)]
    pub events: Vec<EventKind>,
    /// Repository globs (`org/web-*`) within the settings' scope; empty means all.
    #[serde(default)]
    pub repos: Vec<String>,
    /// CI context globs (`ci/*`, `continuous-integration/drone/*`) for the CI kinds; empty
    /// means all. Other kinds ignore it.
    #[serde(default)]
    pub contexts: Vec<String>,
    /// CI systems (`github_actions`, `github_checks`, `github_status`, `gitlab_ci`, `drone`)
    /// for the CI kinds; empty means all. Other kinds ignore it.
    #[serde(default)]
    pub systems: Vec<CiSystem>,
    /// `en` or `zh`; default the channel's language.
    #[serde(default)]
    pub language: Option<Language>,
    /// Per kind, a title and/or text replacing the built-in template.
    #[serde(default)]
    pub templates: BTreeMap<EventKind, Template>,
}

/// A message template's override: either part left out keeps the built-in one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Template {
    /// The title: the notification line and DingTalk's card title.
    pub title: Option<String>,
    /// The Markdown body.
    pub text: Option<String>,
}

/// `deploy = { url = "https://drone.example.com/{repo}/{build}/promote" }`: the deploy button.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    /// The button's link, with placeholders `{repo}`, `{build}`, `{sha}`, `{number}` and
    /// `{context}` put in as they are (not URL-encoded).
    pub url: String,
    /// The button's title; default "Deploy" (English) or "部署" (Chinese).
    #[serde(default)]
    pub label: Option<String>,
    /// Drone contexts (globs, e.g. `continuous-integration/drone/push`) whose passed builds
    /// get the button; empty means every passed build.
    #[serde(default)]
    pub contexts: Vec<String>,
}

/// The events a route can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Opened,
    ReadyForReview,
    ReviewRequested,
    Lgtm,
    Approved,
    Merged,
    Closed,
    Reopened,
    CiFailed,
    CiPassed,
    CiRecovered,
    DroneFinished,
    BosunFailed,
}

impl EventKind {
    /// The CI kinds, which routes' `contexts` and `systems` filter.
    pub fn is_ci(self) -> bool {
        matches!(
            self,
            EventKind::CiFailed
                | EventKind::CiPassed
                | EventKind::CiRecovered
                | EventKind::DroneFinished
        )
    }
}

/// A message's language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    En,
    Zh,
}

/// What one event means for chat: the kinds it can be sent as (most specific first), the
/// values its templates can use, and where it leads.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// Most specific first; a route sends the first it asks for.
    pub kinds: Vec<EventKind>,
    /// What routes' `repos` globs match.
    pub repo: RepoPath,
    /// For CI events: the system and context, which routes filter on.
    pub ci: Option<(CiSystem, String)>,
    /// For CI events: the state, put in templates in the message's language.
    pub state: Option<CiState>,
    /// Placeholder values that read the same in every language.
    pub vars: BTreeMap<&'static str, String>,
    /// Where the message leads (the PR, the CI run, the delivery's page).
    pub link: Option<String>,
    /// Forge users to @.
    pub mentions: Vec<Login>,
}

/// The placeholders a kind's templates can use.
pub fn placeholders(kind: EventKind) -> &'static [&'static str] {
    const PR: &[&str] = &["ref", "repo", "link", "title", "author", "sender", "base"];
    const REVIEW: &[&str] = &[
        "ref",
        "repo",
        "link",
        "title",
        "author",
        "sender",
        "base",
        "reviewers",
    ];
    const CI: &[&str] = &[
        "ref",
        "repo",
        "link",
        "context",
        "system",
        "state",
        "sha",
        "short_sha",
        "number",
        "build",
    ];
    const FAILED: &[&str] = &[
        "ref", "repo", "link", "delivery", "event", "attempts", "error",
    ];
    match kind {
        EventKind::ReviewRequested => REVIEW,
        k if k.is_ci() => CI,
        EventKind::BosunFailed => FAILED,
        _ => PR,
    }
}

/// The placeholders a deploy URL can use.
pub const DEPLOY_PLACEHOLDERS: [&str; 5] = ["repo", "build", "sha", "number", "context"];

/// The built-in `(title, text)` template of a kind in a language.
pub fn default_template(kind: EventKind, language: Language) -> (&'static str, &'static str) {
    use EventKind as K;
    match language {
        Language::En => match kind {
            K::Opened => (
                "{ref} opened for review",
                "**{author}** opened [{ref}]({link}): {title}",
            ),
            K::ReadyForReview => (
                "{ref} is ready for review",
                "[{ref}]({link}) is ready for review: {title}",
            ),
            K::ReviewRequested => (
                "Review requested on {ref}",
                "**{sender}** asked {reviewers} to review [{ref}]({link}): {title}",
            ),
            K::Lgtm => (
                "{ref} got LGTM",
                "[{ref}]({link}) got `lgtm` from **{sender}**: {title}",
            ),
            K::Approved => ("{ref} approved", "[{ref}]({link}) is approved: {title}"),
            K::Merged => (
                "{ref} merged",
                "[{ref}]({link}) was merged into `{base}`: {title}",
            ),
            K::Closed => (
                "{ref} closed",
                "[{ref}]({link}) was closed without merging: {title}",
            ),
            K::Reopened => ("{ref} reopened", "[{ref}]({link}) was reopened: {title}"),
            K::CiFailed => (
                "{context} failed on {ref}",
                "`{context}` {state} on {ref} at `{short_sha}`.",
            ),
            K::CiPassed => (
                "{context} passed on {ref}",
                "`{context}` passed on {ref} at `{short_sha}`.",
            ),
            K::CiRecovered => (
                "{context} recovered on {ref}",
                "`{context}` passes again on {ref} at `{short_sha}`; it had failed.",
            ),
            K::DroneFinished => (
                "Drone #{build} {state} on {ref}",
                "Drone build #{build} of {ref} {state} (`{context}` at `{short_sha}`).",
            ),
            K::BosunFailed => (
                "bosun gave up on a delivery for {ref}",
                "bosun could not handle the `{event}` delivery `{delivery}` for {ref} after {attempts} attempts: {error}",
            ),
        },
        Language::Zh => match kind {
            K::Opened => (
                "{ref} 等待评审",
                "**{author}** 提交了 [{ref}]({link})：{title}",
            ),
            K::ReadyForReview => ("{ref} 可以评审了", "[{ref}]({link}) 可以评审了：{title}"),
            K::ReviewRequested => (
                "{ref} 请求评审",
                "**{sender}** 请 {reviewers} 评审 [{ref}]({link})：{title}",
            ),
            K::Lgtm => (
                "{ref} 已 LGTM",
                "**{sender}** 给 [{ref}]({link}) 加了 `lgtm`：{title}",
            ),
            K::Approved => ("{ref} 已批准", "[{ref}]({link}) 已批准：{title}"),
            K::Merged => ("{ref} 已合并", "[{ref}]({link}) 已合并到 `{base}`：{title}"),
            K::Closed => ("{ref} 已关闭", "[{ref}]({link}) 未合并即关闭：{title}"),
            K::Reopened => ("{ref} 已重新打开", "[{ref}]({link}) 已重新打开：{title}"),
            K::CiFailed => (
                "{ref} 的 {context} 失败",
                "{ref} 的 `{context}` 在 `{short_sha}` 上{state}了。",
            ),
            K::CiPassed => (
                "{ref} 的 {context} 通过",
                "{ref} 的 `{context}` 在 `{short_sha}` 上通过了。",
            ),
            K::CiRecovered => (
                "{ref} 的 {context} 已恢复",
                "{ref} 的 `{context}` 在 `{short_sha}` 上重新通过（此前失败）。",
            ),
            K::DroneFinished => (
                "Drone #{build} {state}：{ref}",
                "{ref} 的 Drone 构建 #{build} {state}（`{context}`，`{short_sha}`）。",
            ),
            K::BosunFailed => (
                "bosun 放弃了 {ref} 的一次投递",
                "bosun 处理 {ref} 的 `{event}` 投递 `{delivery}` {attempts} 次后仍失败：{error}",
            ),
        },
    }
}

/// A CI state as a message says it.
fn state_words(state: CiState, language: Language) -> &'static str {
    match (language, state) {
        (Language::En, CiState::Success) => "passed",
        (Language::En, CiState::Failure) => "failed",
        (Language::En, CiState::Error) => "errored",
        (Language::En, CiState::Cancelled) => "was cancelled",
        (Language::En, CiState::Pending) => "is pending",
        (Language::Zh, CiState::Success) => "通过",
        (Language::Zh, CiState::Failure) => "失败",
        (Language::Zh, CiState::Error) => "出错",
        (Language::Zh, CiState::Cancelled) => "已取消",
        (Language::Zh, CiState::Pending) => "进行中",
    }
}

/// A piece of a template: literal text, or a placeholder's name.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

/// Splits a template into text and `{name}` placeholders (`name` of `a-z`, `0-9` and `_`);
/// `{{` and `}}` are one literal brace, and any other brace is literal too.
fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        if i > 0 {
            out.push(Piece::Text(&rest[..i]));
        }
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push(Piece::Text(&tail[..1]));
            rest = &tail[2..];
            continue;
        }
        let name_len = tail[1..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len() - 1);
        if tail.starts_with('{') && name_len > 0 && tail[1 + name_len..].starts_with('}') {
            out.push(Piece::Var(&tail[1..1 + name_len]));
            rest = &tail[name_len + 2..];
        } else {
            out.push(Piece::Text(&tail[..1]));
            rest = &tail[1..];
        }
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// Fills a template's placeholders from `vars`; one without a value stays as written.
pub fn render(template: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    for piece in pieces(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var(name) => match vars.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            },
        }
    }
    out
}

/// The placeholders a template uses that are not in `known`.
fn unknown_placeholders<'t>(template: &'t str, known: &[&str]) -> Vec<&'t str> {
    pieces(template)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(name) if !known.contains(&name) => Some(name),
            _ => None,
        })
        .collect()
}

/// The kind of a pull-request event and its notice, if routes can ask for it.
pub fn pr_notice(pr: &PullRequestEvent) -> Option<Notice> {
    let item = &pr.pr;
    let (kind, mentions) = match &pr.action {
        PrAction::Opened if !item.draft => (EventKind::Opened, item.assignees.clone()),
        PrAction::ReadyForReview => (EventKind::ReadyForReview, item.assignees.clone()),
        PrAction::ReviewRequested { reviewers } if !reviewers.is_empty() => {
            (EventKind::ReviewRequested, reviewers.clone())
        }
        PrAction::Labeled { label } if label == crate::lgtm::LABEL => {
            (EventKind::Lgtm, vec![item.author.clone()])
        }
        PrAction::Labeled { label } if label == crate::approve::LABEL => {
            (EventKind::Approved, vec![item.author.clone()])
        }
        PrAction::Merged => (EventKind::Merged, vec![item.author.clone()]),
        PrAction::Closed => (EventKind::Closed, vec![]),
        PrAction::Reopened => (EventKind::Reopened, vec![]),
        _ => return None,
    };
    let reviewers = match &pr.action {
        PrAction::ReviewRequested { reviewers } => reviewers
            .iter()
            .map(|r| format!("@{r}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    };
    let vars = BTreeMap::from([
        ("ref", item.reference.to_string()),
        ("repo", item.reference.repo.to_string()),
        ("link", item.html_url.clone()),
        ("title", item.title.clone()),
        ("author", item.author.to_string()),
        ("sender", pr.sender.to_string()),
        ("base", pr.base_ref.clone()),
        ("reviewers", reviewers),
    ]);
    Some(Notice {
        kinds: vec![kind],
        repo: item.reference.repo.clone(),
        ci: None,
        state: None,
        vars,
        link: Some(item.html_url.clone()).filter(|u| !u.is_empty()),
        mentions,
    })
}

/// The notice of a CI context that finished; `last` is how it last finished before (see
/// [`crate::History::last_ci_outcome`]). Pending contexts, and cancelled ones other than
/// Drone builds, are not told.
pub fn ci_notice(ci: &CiEvent, last: Option<CiState>) -> Option<Notice> {
    let mut kinds = Vec::new();
    if ci.system == CiSystem::Drone && ci.state.is_final() {
        kinds.push(EventKind::DroneFinished);
    }
    match ci.state {
        CiState::Failure | CiState::Error => kinds.push(EventKind::CiFailed),
        CiState::Success if last.is_some_and(CiState::is_failed) => {
            kinds.extend([EventKind::CiRecovered, EventKind::CiPassed])
        }
        CiState::Success => kinds.push(EventKind::CiPassed),
        CiState::Pending | CiState::Cancelled => {}
    }
    if kinds.is_empty() {
        return None;
    }
    let short_sha: String = ci.sha.chars().take(8).collect();
    let reference = match ci.number {
        Some(number) => ItemRef {
            forge: ci.forge,
            repo: ci.repo.clone(),
            number,
            kind: ItemKind::PullRequest,
        }
        .to_string(),
        None => format!("{}@{short_sha}", ci.repo),
    };
    let vars = BTreeMap::from([
        ("ref", reference),
        ("repo", ci.repo.to_string()),
        ("link", ci.url.clone().unwrap_or_default()),
        ("context", ci.context.clone()),
        ("system", ci.system.as_str().to_string()),
        ("sha", ci.sha.clone()),
        ("short_sha", short_sha),
        (
            "number",
            ci.number.map(|n| n.to_string()).unwrap_or_default(),
        ),
        ("build", ci.run_id.clone().unwrap_or_default()),
    ]);
    Some(Notice {
        kinds,
        repo: ci.repo.clone(),
        ci: Some((ci.system, ci.context.clone())),
        state: Some(ci.state),
        vars,
        link: ci.url.clone().filter(|u| !u.is_empty()),
        mentions: vec![],
    })
}

/// The notice of a delivery bosun gave up on.
pub fn failure_notice(failed: &DeliveryFailedEvent) -> Notice {
    let reference = match failed.number {
        Some(number) => format!("{}#{number}", failed.repo),
        None => failed.repo.to_string(),
    };
    let error: String = failed.error.chars().take(300).collect();
    let vars = BTreeMap::from([
        ("ref", reference),
        ("repo", failed.repo.to_string()),
        ("link", failed.page_url.clone()),
        ("delivery", failed.delivery_id.clone()),
        ("event", failed.event.clone()),
        ("attempts", failed.attempts.to_string()),
        ("error", error),
    ]);
    Notice {
        kinds: vec![EventKind::BosunFailed],
        repo: failed.repo.clone(),
        ci: None,
        state: None,
        vars,
        link: Some(failed.page_url.clone()).filter(|u| !u.is_empty()),
        mentions: vec![],
    }
}

/// The deploy button of a passed Drone build, when configured for its context.
fn deploy_button(notice: &Notice, deploy: Option<&Deploy>, language: Language) -> Option<Button> {
    let deploy = deploy?;
    let (system, context) = notice.ci.as_ref()?;
    if *system != CiSystem::Drone || notice.state != Some(CiState::Success) {
        return None;
    }
    if !deploy.contexts.is_empty() && !deploy.contexts.iter().any(|g| glob_match(g, context)) {
        return None;
    }
    let title = deploy.label.clone().unwrap_or_else(|| {
        match language {
            Language::En => "Deploy",
            Language::Zh => "部署",
        }
        .to_string()
    });
    Some(Button {
        title,
        url: render(&deploy.url, &notice.vars),
    })
}

/// The message for a notice sent as `kind` in `language`, with a route's template override.
pub fn message(
    notice: &Notice,
    kind: EventKind,
    language: Language,
    template: Option<&Template>,
    deploy: Option<&Deploy>,
) -> ChatMessage {
    let (title, text) = default_template(kind, language);
    let title = template.and_then(|t| t.title.as_deref()).unwrap_or(title);
    let text = template.and_then(|t| t.text.as_deref()).unwrap_or(text);
    let mut vars: BTreeMap<&str, String> = notice.vars.clone();
    if let Some(state) = notice.state {
        vars.insert("state", state_words(state, language).to_string());
    }
    ChatMessage {
        title: render(title, &vars),
        text: render(text, &vars),
        link: notice.link.clone(),
        mentions: notice.mentions.clone(),
        buttons: deploy_button(notice, deploy, language)
            .into_iter()
            .collect(),
    }
}

fn glob_match(glob: &str, value: &str) -> bool {
    globset::Glob::new(glob)
        .map(|g| g.compile_matcher().is_match(value))
        .unwrap_or(false)
}

/// The kind a route sends a notice as: the first of the notice's kinds it asks for, if the
/// repository (and, for CI, the context and system) match.
fn route_kind(route: &Route, notice: &Notice) -> Option<EventKind> {
    let repo_ok = route.repos.is_empty()
        || route
            .repos
            .iter()
            .any(|g| glob_match(g, notice.repo.as_str()));
    if !repo_ok {
        return None;
    }
    notice.kinds.iter().copied().find(|kind| {
        let asked = route.events.is_empty() || route.events.contains(kind);
        let ci_ok = match (&notice.ci, kind.is_ci()) {
            (Some((system, context)), true) => {
                (route.systems.is_empty() || route.systems.contains(system))
                    && (route.contexts.is_empty()
                        || route.contexts.iter().any(|g| glob_match(g, context)))
            }
            _ => true,
        };
        asked && ci_ok
    })
}

/// The messages for one notice: one per channel whose route matches, in the route's language
/// (else the channel's in `languages`, else English).
pub fn decide(
    notice: &Notice,
    settings: &NotifySettings,
    languages: &BTreeMap<String, Language>,
) -> Vec<Action> {
    let mut channels: Vec<&str> = Vec::new();
    let mut actions = Vec::new();
    for route in &settings.routes {
        if channels.contains(&route.channel.as_str()) {
            continue;
        }
        let Some(kind) = route_kind(route, notice) else {
            continue;
        };
        channels.push(&route.channel);
        let language = route
            .language
            .or_else(|| languages.get(&route.channel).copied())
            .unwrap_or_default();
        actions.push(Action::Notify {
            channel: route.channel.clone(),
            message: message(
                notice,
                kind,
                language,
                route.templates.get(&kind),
                settings.deploy.as_ref(),
            ),
        });
    }
    actions
}

/// Every problem with one scope's settings, each with the key it is about.
fn settings_problems(settings: &NotifySettings) -> Vec<String> {
    let mut problems = Vec::new();
    let mut globs = |key: String, list: &[String]| {
        for glob in list {
            if let Err(e) = globset::Glob::new(glob) {
                problems.push(format!("{key} {glob:?}: {e}"));
            }
        }
    };
    for (i, route) in settings.routes.iter().enumerate() {
        globs(format!("routes[{i}].repos"), &route.repos);
        globs(format!("routes[{i}].contexts"), &route.contexts);
    }
    if let Some(deploy) = &settings.deploy {
        globs("deploy.contexts".into(), &deploy.contexts);
    }
    for (i, route) in settings.routes.iter().enumerate() {
        for (kind, template) in &route.templates {
            let parts = [("title", &template.title), ("text", &template.text)];
            for (part, text) in parts {
                let Some(text) = text else { continue };
                for name in unknown_placeholders(text, placeholders(*kind)) {
                    problems.push(format!(
                        "routes[{i}].templates.{}.{part}: unknown placeholder {{{name}}}; this kind has {}",
                        kind_name(*kind),
                        known_list(placeholders(*kind))
                    ));
                }
            }
        }
    }
    if let Some(deploy) = &settings.deploy {
        if !(deploy.url.starts_with("https://") || deploy.url.starts_with("http://")) {
            problems.push("deploy.url: must be an http(s) URL".into());
        }
        for name in unknown_placeholders(&deploy.url, &DEPLOY_PLACEHOLDERS) {
            problems.push(format!(
                "deploy.url: unknown placeholder {{{name}}}; it has {}",
                known_list(&DEPLOY_PLACEHOLDERS)
            ));
        }
    }
    problems
}

fn known_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{{{n}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A kind as configuration spells it.
fn kind_name(kind: EventKind) -> &'static str {
    use EventKind as K;
    match kind {
        K::Opened => "opened",
        K::ReadyForReview => "ready_for_review",
        K::ReviewRequested => "review_requested",
        K::Lgtm => "lgtm",
        K::Approved => "approved",
        K::Merged => "merged",
        K::Closed => "closed",
        K::Reopened => "reopened",
        K::CiFailed => "ci_failed",
        K::CiPassed => "ci_passed",
        K::CiRecovered => "ci_recovered",
        K::DroneFinished => "drone_finished",
        K::BosunFailed => "bosun_failed",
    }
}

/// The notify plugin.
pub struct Notify;

#[async_trait]
impl Plugin for Notify {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Tells chat groups (DingTalk, Slack, Feishu, WeCom) when a pull request is opened or ready for review, a review is requested, it gets lgtm or approved, is merged, closed or reopened; when CI fails, passes or recovers; when a Drone build finishes (with a deploy button); and when bosun gives up on a delivery — as routed in the settings, in the channel's language.",
            commands: vec![],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        let parsed: NotifySettings =
            serde_json::from_value(settings.clone()).map_err(|e| e.to_string())?;
        let problems = settings_problems(&parsed);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let settings: NotifySettings = cx.settings()?;
        if settings.routes.is_empty() {
            return Ok(vec![]);
        }
        let notice = match event {
            Event::PullRequest(pr) => pr_notice(pr),
            Event::Ci(ci) if ci.state.is_final() => {
                let last = match ci.state {
                    CiState::Success => {
                        cx.history
                            .last_ci_outcome(ci.forge, &ci.repo, ci.number, &ci.sha, &ci.context)
                            .await
                    }
                    _ => None,
                };
                ci_notice(ci, last)
            }
            Event::DeliveryFailed(failed) => Some(failure_notice(failed)),
            _ => None,
        };
        Ok(notice
            .map(|n| decide(&n, &settings, cx.channel_languages))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryForge;
    use crate::{ForgeKind, Item, ItemState};

    fn pr_event(action: PrAction) -> Event {
        Event::PullRequest(PullRequestEvent {
            pr: Item {
                reference: ItemRef {
                    forge: ForgeKind::GitLab,
                    repo: RepoPath::parse("grp/proj").expect("repo"),
                    number: 12,
                    kind: ItemKind::PullRequest,
                },
                author: Login::new("mr-author"),
                state: ItemState::Open,
                title: "Fix the build".into(),
                labels: vec![],
                assignees: vec![Login::new("alice")],
                draft: false,
                html_url: "https://gitlab.example.com/grp/proj/-/merge_requests/12".into(),
            },
            action,
            sender: Login::new("bob"),
            head_sha: "abc".into(),
            base_sha: None,
            head_ref: "fix".into(),
            base_ref: "main".into(),
        })
    }

    fn ci_event(system: CiSystem, context: &str, state: CiState) -> Event {
        Event::Ci(CiEvent {
            forge: ForgeKind::GitLab,
            repo: RepoPath::parse("grp/proj").expect("repo"),
            system,
            sha: "c0ffee0000000000000000000000000000000001".into(),
            number: Some(12),
            context: context.into(),
            state,
            url: Some("https://drone.example.com/grp/proj/101".into()),
            run_id: Some("101".into()),
        })
    }

    fn notices(actions: &[Action]) -> Vec<(&str, &ChatMessage)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Notify { channel, message } => Some((channel.as_str(), message)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn routes_pick_channels_events_and_language() {
        let forge = MemoryForge::default();
        let s = serde_json::json!({"routes": [
            {"channel": "team", "events": ["opened", "merged"], "language": "zh"},
            {"channel": "team", "events": ["opened"]},
            {"channel": "leads", "events": ["approved"], "repos": ["grp/*"]},
            {"channel": "other", "repos": ["elsewhere/*"]}
        ]});
        let opened = forge
            .run_with(&Notify, &pr_event(PrAction::Opened), &s)
            .await
            .expect("handled");
        assert_eq!(opened.len(), 1, "one message per channel: {opened:?}");
        let Action::Notify { channel, message } = &opened[0] else {
            panic!("{opened:?}")
        };
        assert_eq!(channel, "team");
        assert_eq!(message.title, "grp/proj!12 等待评审");
        assert!(message.text.contains("**mr-author** 提交了 [grp/proj!12](https://gitlab.example.com/grp/proj/-/merge_requests/12)：Fix the build"), "{}", message.text);
        assert_eq!(message.mentions, vec![Login::new("alice")]);

        let approved = forge
            .run_with(
                &Notify,
                &pr_event(PrAction::Labeled {
                    label: "approved".into(),
                }),
                &s,
            )
            .await
            .expect("handled");
        let Action::Notify { channel, message } = &approved[0] else {
            panic!("{approved:?}")
        };
        assert_eq!((channel.as_str(), approved.len()), ("leads", 1));
        assert_eq!(message.title, "grp/proj!12 approved");
        assert_eq!(message.mentions, vec![Login::new("mr-author")]);

        let synced = forge
            .run_with(
                &Notify,
                &pr_event(PrAction::Synchronized { before: None }),
                &s,
            )
            .await
            .expect("handled");
        assert!(synced.is_empty(), "not an event routes can ask for");
    }

    #[tokio::test]
    async fn drafts_are_not_announced_and_settings_are_checked() {
        let forge = MemoryForge::default();
        let s = serde_json::json!({"routes": [{"channel": "team"}]});
        let Event::PullRequest(mut draft) = pr_event(PrAction::Opened) else {
            unreachable!()
        };
        draft.pr.draft = true;
        let actions = forge
            .run_with(&Notify, &Event::PullRequest(draft), &s)
            .await
            .expect("handled");
        assert!(actions.is_empty());
        assert!(
            Notify
                .check_settings(
                    &serde_json::json!({"routes": [{"channel": "t", "events": ["pushed"]}]})
                )
                .is_err()
        );
        assert!(
            Notify
                .check_settings(
                    &serde_json::json!({"routes": [{"channel": "t", "repos": ["a/["]}]})
                )
                .is_err()
        );
        assert!(Notify.check_settings(&s).is_ok());
    }

    /// A route without a language writes in its channel's; a route's own language wins.
    #[tokio::test]
    async fn the_channel_language_is_the_default() {
        let mut forge = MemoryForge::default();
        forge.channel_languages.insert("ding".into(), Language::Zh);
        let s = serde_json::json!({"routes": [
            {"channel": "ding", "events": ["merged"]},
            {"channel": "slack", "events": ["merged"]},
            {"channel": "ding-en", "events": ["merged"], "language": "en"}
        ]});
        let actions = forge
            .run_with(&Notify, &pr_event(PrAction::Merged), &s)
            .await
            .expect("handled");
        let titles: Vec<(&str, &str)> = notices(&actions)
            .into_iter()
            .map(|(c, m)| (c, m.title.as_str()))
            .collect();
        assert_eq!(
            titles,
            vec![
                ("ding", "grp/proj!12 已合并"),
                ("slack", "grp/proj!12 merged"),
                ("ding-en", "grp/proj!12 merged"),
            ]
        );
    }

    /// A failure is `ci_failed`; a pass after a failure `ci_recovered` (or `ci_passed` for a
    /// route that asks only for that); a first pass `ci_passed`; pending says nothing.
    #[tokio::test]
    async fn ci_fails_passes_and_recovers_per_context() {
        let forge = MemoryForge::default();
        let s = serde_json::json!({"routes": [
            {"channel": "ci", "events": ["ci_failed", "ci_recovered", "ci_passed"], "contexts": ["ci/*"]},
            {"channel": "passes", "events": ["ci_passed"], "systems": ["github_status"]}
        ]});
        let failed = forge
            .run_with(
                &Notify,
                &ci_event(CiSystem::GithubStatus, "ci/test", CiState::Failure),
                &s,
            )
            .await
            .expect("handled");
        let got = notices(&failed);
        assert_eq!(got.len(), 1, "{failed:?}");
        assert_eq!(got[0].1.title, "ci/test failed on grp/proj!12");
        assert_eq!(
            got[0].1.text,
            "`ci/test` failed on grp/proj!12 at `c0ffee00`."
        );
        assert_eq!(
            got[0].1.link.as_deref(),
            Some("https://drone.example.com/grp/proj/101")
        );

        forge.with(|s| s.ci_outcomes.insert("ci/test".into(), CiState::Failure));
        let recovered = forge
            .run_with(
                &Notify,
                &ci_event(CiSystem::GithubStatus, "ci/test", CiState::Success),
                &s,
            )
            .await
            .expect("handled");
        let got: Vec<(&str, String)> = notices(&recovered)
            .into_iter()
            .map(|(c, m)| (c, m.title.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ci", "ci/test recovered on grp/proj!12".to_string()),
                ("passes", "ci/test passed on grp/proj!12".to_string()),
            ]
        );

        forge.with(|s| s.ci_outcomes.insert("ci/test".into(), CiState::Success));
        let passed = forge
            .run_with(
                &Notify,
                &ci_event(CiSystem::GithubStatus, "ci/test", CiState::Success),
                &s,
            )
            .await
            .expect("handled");
        assert_eq!(notices(&passed)[0].1.title, "ci/test passed on grp/proj!12");

        for (system, context, state) in [
            (CiSystem::GithubStatus, "ci/test", CiState::Pending),
            (CiSystem::GithubStatus, "lint", CiState::Failure),
            (CiSystem::GithubActions, "ci/test", CiState::Cancelled),
        ] {
            let none = forge
                .run_with(&Notify, &ci_event(system, context, state), &s)
                .await
                .expect("handled");
            assert!(none.is_empty(), "{context} {state:?}: {none:?}");
        }
    }

    /// A passed Drone build is `drone_finished` with a button to the build and one to the
    /// deploy URL (placeholders filled), in the channel's language; a failed one has no
    /// deploy button.
    #[tokio::test]
    async fn a_passed_drone_build_gets_a_deploy_button() {
        let mut forge = MemoryForge::default();
        forge.channel_languages.insert("ding".into(), Language::Zh);
        let s = serde_json::json!({
            "routes": [{"channel": "ding", "events": ["drone_finished"]}],
            "deploy": {"url": "https://drone.example.com/{repo}/{build}/promote?target=prod&sha={sha}"}
        });
        let ctx = "continuous-integration/drone/pr";
        let passed = forge
            .run_with(
                &Notify,
                &ci_event(CiSystem::Drone, ctx, CiState::Success),
                &s,
            )
            .await
            .expect("handled");
        let (_, message) = notices(&passed)[0];
        assert_eq!(message.title, "Drone #101 通过：grp/proj!12");
        assert_eq!(
            message.buttons,
            vec![Button {
                title: "部署".into(),
                url: "https://drone.example.com/grp/proj/101/promote?target=prod&sha=c0ffee0000000000000000000000000000000001".into(),
            }]
        );
        assert_eq!(
            message.link.as_deref(),
            Some("https://drone.example.com/grp/proj/101")
        );
        let failed = forge
            .run_with(
                &Notify,
                &ci_event(CiSystem::Drone, ctx, CiState::Failure),
                &s,
            )
            .await
            .expect("handled");
        let (_, message) = notices(&failed)[0];
        assert_eq!(message.title, "Drone #101 失败：grp/proj!12");
        assert!(message.buttons.is_empty());

        let only_push = serde_json::json!({
            "routes": [{"channel": "ding"}],
            "deploy": {"url": "https://d/{repo}", "contexts": ["*/push"], "label": "Promote"}
        });
        let pr_build = forge
            .run_with(
                &Notify,
                &ci_event(CiSystem::Drone, ctx, CiState::Success),
                &only_push,
            )
            .await
            .expect("handled");
        assert!(notices(&pr_build)[0].1.buttons.is_empty());
        let push_build = forge
            .run_with(
                &Notify,
                &ci_event(
                    CiSystem::Drone,
                    "continuous-integration/drone/push",
                    CiState::Success,
                ),
                &only_push,
            )
            .await
            .expect("handled");
        assert_eq!(notices(&push_build)[0].1.buttons[0].title, "Promote");
    }

    /// A review request @'s the requested users; a team request (nobody named) says nothing.
    #[tokio::test]
    async fn a_review_request_mentions_the_reviewers() {
        let forge = MemoryForge::default();
        let s =
            serde_json::json!({"routes": [{"channel": "team", "events": ["review_requested"]}]});
        let asked = forge
            .run_with(
                &Notify,
                &pr_event(PrAction::ReviewRequested {
                    reviewers: vec![Login::new("carol"), Login::new("dave")],
                }),
                &s,
            )
            .await
            .expect("handled");
        let (_, message) = notices(&asked)[0];
        assert_eq!(message.title, "Review requested on grp/proj!12");
        assert!(
            message
                .text
                .starts_with("**bob** asked @carol, @dave to review [grp/proj!12]("),
            "{}",
            message.text
        );
        assert_eq!(
            message.mentions,
            vec![Login::new("carol"), Login::new("dave")]
        );
        let team = forge
            .run_with(
                &Notify,
                &pr_event(PrAction::ReviewRequested { reviewers: vec![] }),
                &s,
            )
            .await
            .expect("handled");
        assert!(team.is_empty());
    }

    /// A delivery bosun gave up on is told to routes asking for `bosun_failed`, linking its
    /// page.
    #[tokio::test]
    async fn a_failed_delivery_is_told() {
        let forge = MemoryForge::default();
        let s = serde_json::json!({"routes": [{"channel": "ops", "events": ["bosun_failed"]}, {"channel": "team", "events": ["opened"]}]});
        let event = Event::DeliveryFailed(DeliveryFailedEvent {
            forge: ForgeKind::GitHub,
            repo: RepoPath::parse("org/repo").expect("repo"),
            number: Some(7),
            delivery_id: "github:abc".into(),
            event: "issue_comment".into(),
            attempts: 5,
            error: "GitHub 502 on POST /labels".into(),
            page_url: "https://bosun.example/deliveries/github:abc".into(),
        });
        let actions = forge.run_with(&Notify, &event, &s).await.expect("handled");
        let got = notices(&actions);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, "ops");
        assert_eq!(got[0].1.title, "bosun gave up on a delivery for org/repo#7");
        assert_eq!(
            got[0].1.text,
            "bosun could not handle the `issue_comment` delivery `github:abc` for org/repo#7 after 5 attempts: GitHub 502 on POST /labels"
        );
        assert_eq!(
            got[0].1.link.as_deref(),
            Some("https://bosun.example/deliveries/github:abc")
        );
    }

    /// A route's template replaces the built-in one for its kind, placeholders filled, braces
    /// escaped; unknown placeholders and bad deploy URLs are refused at startup.
    #[tokio::test]
    async fn routes_override_templates() {
        let forge = MemoryForge::default();
        let s = serde_json::json!({"routes": [{"channel": "team", "events": ["ci_failed"],
            "templates": {"ci_failed": {"title": "构建失败 {{{ref}}}"}}}]});
        assert!(Notify.check_settings(&s).is_ok());
        let actions = forge
            .run_with(
                &Notify,
                &ci_event(CiSystem::GitlabCi, "gitlab-ci", CiState::Error),
                &s,
            )
            .await
            .expect("handled");
        let (_, message) = notices(&actions)[0];
        assert_eq!(message.title, "构建失败 {grp/proj!12}");
        assert_eq!(
            message.text,
            "`gitlab-ci` errored on grp/proj!12 at `c0ffee00`."
        );

        let bad = serde_json::json!({"routes": [{"channel": "t",
            "templates": {"opened": {"text": "{title} {context}"}}}]});
        let e = Notify
            .check_settings(&bad)
            .expect_err("unknown placeholder");
        assert!(
            e.contains("routes[0].templates.opened.text: unknown placeholder {context}"),
            "{e}"
        );
        let bad_url = serde_json::json!({"routes": [], "deploy": {"url": "drone/{repo}/{pr}"}});
        let e = Notify.check_settings(&bad_url).expect_err("bad deploy");
        assert!(e.contains("deploy.url: must be an http(s) URL"), "{e}");
        assert!(e.contains("unknown placeholder {pr}"), "{e}");
    }

    #[test]
    fn templates_fill_placeholders_and_keep_other_braces() {
        let vars = BTreeMap::from([("a", "x".to_string()), ("b_2", "y".to_string())]);
        assert_eq!(render("{a}-{b_2}", &vars), "x-y");
        assert_eq!(
            render("{{a}} {missing} { a } {", &vars),
            "{a} {missing} { a } {"
        );
        assert_eq!(render("}}{a}}", &vars), "}x}");
        assert_eq!(render("无{a}", &vars), "无x");
        assert_eq!(unknown_placeholders("{a} {zz} {{zz}}", &["a"]), vec!["zz"]);
    }
}
