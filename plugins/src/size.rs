//! `size`: labels a pull request `size/XS` … `size/XXL` by the lines it changes, so reviewers
//! can pick work by size (Prow §3.7). Generated files do not count: those named by
//! `.generated_files` and marked `linguist-generated` in `.gitattributes`, both read at the PR's
//! base (so a PR cannot exempt its own lines), plus the `generated` patterns in the settings.
//! The old size label is replaced; no comments.

use crate::forge::ChangedFile;
use crate::{Action, Context, Event, ItemRef, Plugin, PluginError, PluginHelp, PrAction, RepoPath};
use async_trait::async_trait;
use globset::{GlobSet, GlobSetBuilder};
use serde::Deserialize;
use std::collections::BTreeSet;

/// Every size label starts with this; other labels with it are removed.
pub const PREFIX: &str = "size/";

/// At most this many `paths-from-repo` files are read per event: each costs an API call.
pub const MAX_PATH_FILES: usize = 10;

/// The labels from small to large, with the colours Kubernetes uses (for creating them).
const LABELS: [(&str, &str); 6] = [
    ("size/XS", "009900"),
    ("size/S", "77bb00"),
    ("size/M", "eebb00"),
    ("size/L", "ee9900"),
    ("size/XL", "ee5500"),
    ("size/XXL", "ee0000"),
];

/// `[settings.size."org/repo"]`
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SizeSettings {
    /// Lines from which a PR is `size/S` (default 10; 0 means the default).
    pub s: u64,
    /// … `size/M` (default 30).
    pub m: u64,
    /// … `size/L` (default 100).
    pub l: u64,
    /// … `size/XL` (default 500).
    pub xl: u64,
    /// … `size/XXL` (default 1000).
    pub xxl: u64,
    /// More generated files, as path patterns (`*.pb.go`, `vendor/**`).
    pub generated: Vec<String>,
}

/// The lower bounds of `size/S` … `size/XXL`; below `s` is `size/XS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub s: u64,
    pub m: u64,
    pub l: u64,
    pub xl: u64,
    pub xxl: u64,
}

impl Default for Thresholds {
    /// Prow's defaults.
    fn default() -> Self {
        Thresholds {
            s: 10,
            m: 30,
            l: 100,
            xl: 500,
            xxl: 1000,
        }
    }
}

impl SizeSettings {
    /// The configured bounds, each 0 replaced by Prow's default.
    pub fn thresholds(&self) -> Thresholds {
        let d = Thresholds::default();
        let or = |v: u64, default: u64| if v == 0 { default } else { v };
        Thresholds {
            s: or(self.s, d.s),
            m: or(self.m, d.m),
            l: or(self.l, d.l),
            xl: or(self.xl, d.xl),
            xxl: or(self.xxl, d.xxl),
        }
    }

    /// Bounds that do not increase would make a bucket unreachable: refuse them at startup.
    fn check(&self) -> Result<(), String> {
        let t = self.thresholds();
        let bounds = [
            ("s", t.s),
            ("m", t.m),
            ("l", t.l),
            ("xl", t.xl),
            ("xxl", t.xxl),
        ];
        for pair in bounds.windows(2) {
            let ((a, va), (b, vb)) = (pair[0], pair[1]);
            if va >= vb {
                return Err(format!(
                    "thresholds must increase: {a} = {va} is not below {b} = {vb}"
                ));
            }
        }
        crate::pathglob::glob_set(&self.generated).map_err(|e| format!("generated: {e}"))?;
        Ok(())
    }
}

/// The size label for a number of changed lines.
pub fn label_for(lines: u64, t: &Thresholds) -> &'static str {
    let index = [t.s, t.m, t.l, t.xl, t.xxl]
        .iter()
        .filter(|bound| lines >= **bound)
        .count();
    LABELS[index].0
}

fn color_of(label: &str) -> &'static str {
    LABELS
        .iter()
        .find(|(l, _)| *l == label)
        .map_or("ededed", |(_, c)| c)
}

/// What `.generated_files` says, in Prow's directives.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GeneratedFiles {
    /// `path-prefix P` / `prefix P`: paths starting with P.
    pub path_prefixes: Vec<String>,
    /// `file-prefix P`: file names starting with P.
    pub file_prefixes: Vec<String>,
    /// `file-name N`, and (Prow's quirk) `path N`: file names equal to N.
    pub file_names: BTreeSet<String>,
    /// Exact paths, from the `paths-from-repo` files.
    pub paths: BTreeSet<String>,
    /// `paths-from-repo F`: files listing exact paths, one a line, read at the same ref.
    pub path_files: Vec<String>,
}

fn is_skipped(line: &str) -> bool {
    line.is_empty() || line.starts_with('#')
}

/// Parses `.generated_files`; a bad line is skipped and reported, the rest still count.
pub fn parse_generated_files(text: &str) -> (GeneratedFiles, Vec<String>) {
    let mut out = GeneratedFiles::default();
    let mut warnings = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if is_skipped(line) {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [directive, value] = fields[..] else {
            warnings.push(format!(
                "line {}: expected `directive value`: {line:?}",
                n + 1
            ));
            continue;
        };
        let value = value.to_string();
        match directive {
            "path-prefix" | "prefix" => out.path_prefixes.push(value),
            "file-prefix" => out.file_prefixes.push(value),
            "file-name" | "path" => {
                out.file_names.insert(value);
            }
            "paths-from-repo" => out.path_files.push(value),
            other => warnings.push(format!("line {}: unknown directive {other:?}", n + 1)),
        }
    }
    (out, warnings)
}

/// Adds the exact paths a `paths-from-repo` file lists.
pub fn add_listed_paths(files: &mut GeneratedFiles, text: &str) {
    files.paths.extend(
        text.lines()
            .map(str::trim)
            .filter(|l| !is_skipped(l))
            .map(str::to_string),
    );
}

/// The `linguist-generated` rules of a `.gitattributes`, in file order; as in git, the last
/// line matching a path decides.
#[derive(Debug, Clone)]
pub struct Attributes {
    patterns: GlobSet,
    generated: Vec<bool>,
}

impl Attributes {
    /// Whether the last rule matching `path` marks it generated.
    pub fn is_generated(&self, path: &str) -> bool {
        self.patterns
            .matches(path)
            .into_iter()
            .max()
            .is_some_and(|i| self.generated[i])
    }
}

/// The value a `.gitattributes` line gives `linguist-generated`, if it names it: set and
/// `=true` mark a file generated; unset (`-`), unspecified (`!`) and other values do not.
fn linguist_generated(attrs: &[&str]) -> Option<bool> {
    attrs.iter().rev().find_map(|a| match *a {
        "linguist-generated" | "linguist-generated=true" => Some(true),
        "-linguist-generated" | "!linguist-generated" => Some(false),
        _ => a
            .strip_prefix("linguist-generated=")
            .map(|v| v.eq_ignore_ascii_case("true")),
    })
}

/// Parses the `linguist-generated` rules of a `.gitattributes`; lines git itself would reject
/// (negative patterns, bad globs) are skipped and reported.
pub fn parse_gitattributes(text: &str) -> (Attributes, Vec<String>) {
    let mut patterns = GlobSetBuilder::new();
    let mut generated = Vec::new();
    let mut warnings = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if is_skipped(line) || line.starts_with("[attr]") {
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(pattern) = fields.next() else {
            continue;
        };
        let attrs: Vec<&str> = fields.collect();
        let Some(value) = linguist_generated(&attrs) else {
            continue;
        };
        if pattern.starts_with('!') || pattern.starts_with('"') {
            warnings.push(format!(
                "line {}: unsupported pattern {pattern:?} skipped",
                n + 1
            ));
            continue;
        }
        if pattern.ends_with('/') {
            // Matches directories only, and attributes never apply to a directory's files.
            continue;
        }
        match crate::pathglob::glob(pattern) {
            Ok(glob) => {
                patterns.add(glob);
                generated.push(value);
            }
            Err(e) => warnings.push(format!("line {}: {e}", n + 1)),
        }
    }
    let patterns = patterns.build().unwrap_or_else(|e| {
        warnings.push(e.to_string());
        generated.clear();
        GlobSet::empty()
    });
    (
        Attributes {
            patterns,
            generated,
        },
        warnings,
    )
}

/// Everything that marks a file generated for one PR.
#[derive(Debug, Clone)]
pub struct Generated {
    pub files: GeneratedFiles,
    pub attributes: Attributes,
    pub configured: GlobSet,
}

impl Generated {
    /// Whether `path` is generated by any of the three sources.
    pub fn contains(&self, path: &str) -> bool {
        let name = path.rsplit('/').next().unwrap_or(path);
        let f = &self.files;
        f.paths.contains(path)
            || f.file_names.contains(name)
            || f.path_prefixes.iter().any(|p| path.starts_with(p.as_str()))
            || f.file_prefixes.iter().any(|p| name.starts_with(p.as_str()))
            || self.attributes.is_generated(path)
            || self.configured.is_match(path)
    }
}

/// Σ(additions + deletions) over the files that are not generated.
pub fn count_lines(files: &[ChangedFile], generated: &Generated) -> u64 {
    files
        .iter()
        .filter(|f| !generated.contains(&f.path))
        .fold(0u64, |sum, f| {
            sum.saturating_add(f.additions.saturating_add(f.deletions))
        })
}

/// Removes every other `size/` label and adds `target` when absent (exact case, as Prow). The
/// add is `None` when the label is already there.
pub fn decide(item: &ItemRef, target: &str, labels: &[String]) -> (Vec<Action>, Option<Action>) {
    let removes = labels
        .iter()
        .filter(|l| l.starts_with(PREFIX) && l.as_str() != target)
        .map(|l| Action::RemoveLabel {
            item: item.clone(),
            label: l.clone(),
        })
        .collect();
    let add = (!labels.iter().any(|l| l == target)).then(|| Action::AddLabel {
        item: item.clone(),
        label: target.to_string(),
    });
    (removes, add)
}

async fn read_text(
    cx: &Context<'_>,
    repo: &RepoPath,
    path: &str,
    git_ref: &str,
) -> Result<Option<String>, PluginError> {
    Ok(cx
        .forge
        .file_content(repo, path, git_ref)
        .await?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Reads the generated-file markers at `git_ref` (the PR's base).
async fn load_generated(
    cx: &Context<'_>,
    repo: &RepoPath,
    git_ref: &str,
    settings: &SizeSettings,
) -> Result<Generated, PluginError> {
    let configured = crate::pathglob::glob_set(&settings.generated).map_err(PluginError::Config)?;
    let mut files = GeneratedFiles::default();
    if let Some(text) = read_text(cx, repo, ".generated_files", git_ref).await? {
        let (parsed, warnings) = parse_generated_files(&text);
        for w in warnings {
            tracing::warn!(%repo, file = ".generated_files", "{w}");
        }
        files = parsed;
        if files.path_files.len() > MAX_PATH_FILES {
            tracing::warn!(%repo, file = ".generated_files", "only the first {MAX_PATH_FILES} paths-from-repo files are read");
        }
        for path in files.path_files.clone().iter().take(MAX_PATH_FILES) {
            match read_text(cx, repo, path, git_ref).await? {
                Some(text) => add_listed_paths(&mut files, &text),
                None => {
                    tracing::warn!(%repo, file = ".generated_files", "paths-from-repo {path:?} does not exist")
                }
            }
        }
    }
    let attributes = match read_text(cx, repo, ".gitattributes", git_ref).await? {
        Some(text) => {
            let (parsed, warnings) = parse_gitattributes(&text);
            for w in warnings {
                tracing::warn!(%repo, file = ".gitattributes", "{w}");
            }
            parsed
        }
        None => parse_gitattributes("").0,
    };
    Ok(Generated {
        files,
        attributes,
        configured,
    })
}

/// The size plugin.
pub struct Size;

#[async_trait]
impl Plugin for Size {
    fn name(&self) -> &'static str {
        "size"
    }

    fn help(&self) -> PluginHelp {
        PluginHelp {
            description: "Labels pull requests size/XS, size/S, size/M, size/L, size/XL or size/XXL by the lines they add and remove (by default from 10, 30, 100, 500 and 1000 lines), not counting generated files (`.generated_files`, `linguist-generated` in `.gitattributes`, and configured patterns). The old size label is replaced when new commits change the size.",
            commands: vec![],
        }
    }

    fn check_settings(&self, settings: &serde_json::Value) -> Result<(), String> {
        if settings.is_null() {
            return Ok(());
        }
        serde_json::from_value::<SizeSettings>(settings.clone())
            .map_err(|e| e.to_string())?
            .check()
    }

    async fn handle(&self, event: &Event, cx: &Context<'_>) -> Result<Vec<Action>, PluginError> {
        let Event::PullRequest(pr) = event else {
            return Ok(vec![]);
        };
        let relevant = matches!(
            pr.action,
            PrAction::Opened
                | PrAction::Reopened
                | PrAction::Synchronized { .. }
                | PrAction::Edited
        );
        if !relevant {
            return Ok(vec![]);
        }
        let settings: SizeSettings = cx.settings()?;
        let item = &pr.pr.reference;
        let repo = &item.repo;
        let base = match pr.base_sha.clone().filter(|s| !s.is_empty()) {
            Some(sha) => sha,
            None => {
                let info = cx.forge.pull_request(item).await?;
                if info.base_sha.is_empty() {
                    info.base_ref
                } else {
                    info.base_sha
                }
            }
        };
        let generated = load_generated(cx, repo, &base, &settings).await?;
        let (files, _) = cx.changed_files(item).await?;
        let target = label_for(count_lines(&files, &generated), &settings.thresholds());
        let labels = cx.forge.labels(item).await?;
        let (mut actions, add) = decide(item, target, &labels);
        if let Some(add) = add {
            let exists = cx
                .forge
                .repo_labels(repo)
                .await?
                .iter()
                .any(|l| l.eq_ignore_ascii_case(target));
            if !exists {
                actions.push(Action::CreateLabel {
                    forge: item.forge,
                    repo: repo.clone(),
                    name: target.to_string(),
                    color: color_of(target).to_string(),
                });
            }
            actions.push(add);
        }
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{MemoryForge, pr_event, pr_ref};
    use serde_json::json;

    fn file(path: &str, additions: u64, deletions: u64) -> ChangedFile {
        ChangedFile {
            path: path.into(),
            previous_path: None,
            additions,
            deletions,
        }
    }

    fn opened() -> Event {
        pr_event(PrAction::Opened)
    }

    fn forge_with(files: Vec<ChangedFile>, labels: &[&str]) -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.changed_files = files;
            s.repo_labels = LABELS.iter().map(|(l, _)| l.to_string()).collect();
        });
        forge.set_labels(labels);
        forge
    }

    fn added(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AddLabel { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect()
    }

    fn removed(actions: &[Action]) -> Vec<&str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::RemoveLabel { label, .. } => Some(label.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Prow §3.7: XS < 10 ≤ S < 30 ≤ M < 100 ≤ L < 500 ≤ XL < 1000 ≤ XXL.
    #[test]
    fn default_buckets_and_their_boundaries() {
        let t = Thresholds::default();
        for (lines, label) in [
            (0, "size/XS"),
            (9, "size/XS"),
            (10, "size/S"),
            (29, "size/S"),
            (30, "size/M"),
            (99, "size/M"),
            (100, "size/L"),
            (499, "size/L"),
            (500, "size/XL"),
            (999, "size/XL"),
            (1000, "size/XXL"),
            (u64::MAX, "size/XXL"),
        ] {
            assert_eq!(label_for(lines, &t), label, "{lines} lines");
        }
    }

    /// Prow: configured bounds are lower bounds, and 0 means the default.
    #[test]
    fn configured_bounds_with_zero_meaning_default() {
        let s: SizeSettings = serde_json::from_value(json!({"s": 5, "l": 50})).expect("valid");
        let t = s.thresholds();
        assert_eq!((t.s, t.m, t.l, t.xl, t.xxl), (5, 30, 50, 500, 1000));
        assert_eq!(label_for(4, &t), "size/XS");
        assert_eq!(label_for(5, &t), "size/S");
        assert_eq!(label_for(49, &t), "size/M");
        assert_eq!(label_for(50, &t), "size/L");
    }

    #[test]
    fn settings_are_checked() {
        let check = |v: serde_json::Value| Size.check_settings(&v);
        assert!(check(serde_json::Value::Null).is_ok());
        assert!(check(json!({})).is_ok());
        assert!(check(json!({"s": 1, "m": 2, "l": 3, "xl": 4, "xxl": 5})).is_ok());
        let e = check(json!({"m": 200})).expect_err("m above l");
        assert_eq!(e, "thresholds must increase: m = 200 is not below l = 100");
        assert!(check(json!({"xl": 1000})).is_err(), "equal bounds");
        let e = check(json!({"generated": ["gen/[x"]})).expect_err("bad glob");
        assert!(e.starts_with("generated: bad glob \"gen/[x\""), "{e}");
        assert!(check(json!({"small": 3})).is_err(), "unknown key");
    }

    /// Prow's `.generated_files` directives, with its `path` quirk (a file-name match).
    #[test]
    fn generated_files_directives() {
        let text = "# generated\n\npath-prefix vendor/\nprefix third_party/\nfile-prefix zz_generated\nfile-name go.sum\npath api/openapi.json\npaths-from-repo hack/generated.txt\nbogus x\nfile-name\n";
        let (g, warnings) = parse_generated_files(text);
        assert_eq!(g.path_prefixes, vec!["vendor/", "third_party/"]);
        assert_eq!(g.file_prefixes, vec!["zz_generated"]);
        assert_eq!(
            g.file_names.iter().collect::<Vec<_>>(),
            vec!["api/openapi.json", "go.sum"]
        );
        assert_eq!(g.path_files, vec!["hack/generated.txt"]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("line 9: unknown directive"));
        assert!(warnings[1].starts_with("line 10: expected"));
    }

    #[test]
    fn gitattributes_linguist_generated() {
        let text = "* text=auto\n*.pb.go linguist-generated=true\n/gen/** linguist-generated\n\
                    gen/keep.go -linguist-generated\ndocs/ linguist-generated\n!neg linguist-generated\n\
                    other.txt linguist-generated=false binary\n";
        let (a, warnings) = parse_gitattributes(text);
        assert!(a.is_generated("api/v1/types.pb.go"));
        assert!(a.is_generated("types.pb.go"));
        assert!(a.is_generated("gen/a/b.go"));
        assert!(!a.is_generated("gen/keep.go"), "a later line unsets it");
        assert!(!a.is_generated("x/gen/a.go"), "a / anchors at the root");
        assert!(
            !a.is_generated("docs/a.md"),
            "directory patterns never match files"
        );
        assert!(!a.is_generated("other.txt"));
        assert!(!a.is_generated("main.go"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    #[tokio::test]
    async fn counts_additions_and_deletions() {
        let forge = forge_with(vec![file("a.go", 5, 4), file("b.go", 1, 0)], &[]);
        let actions = forge.run(&Size, &opened()).await.expect("handled");
        assert_eq!(
            actions,
            vec![Action::AddLabel {
                item: pr_ref(),
                label: "size/S".into()
            }]
        );
    }

    /// A generated-file source: its name, the repo files it needs, the settings.
    type Source = (
        &'static str,
        &'static [(&'static str, &'static str)],
        serde_json::Value,
    );

    /// Each source of generated files is left out of the count.
    #[tokio::test]
    async fn generated_files_do_not_count() {
        let files = vec![
            file("main.go", 3, 2),
            file("vendor/lib/x.go", 400, 0),
            file("pkg/zz_generated.deepcopy.go", 400, 0),
            file("api/types.pb.go", 400, 0),
            file("docs/api.md", 400, 0),
            file("hack/listed.json", 400, 0),
        ];
        let sources: [Source; 4] = [
            ("none", &[], serde_json::Value::Null),
            (
                ".generated_files",
                &[
                    (
                        ".generated_files",
                        "path-prefix vendor/\nfile-prefix zz_generated\nfile-name types.pb.go\npath api.md\npaths-from-repo hack/list\n",
                    ),
                    ("hack/list", "# listed\nhack/listed.json\n"),
                ],
                serde_json::Value::Null,
            ),
            (
                ".gitattributes",
                &[(
                    ".gitattributes",
                    "vendor/** linguist-generated=true\nzz_generated.* linguist-generated\n*.pb.go linguist-generated\ndocs/*.md linguist-generated\nhack/*.json linguist-generated\n",
                )],
                serde_json::Value::Null,
            ),
            (
                "settings",
                &[],
                json!({"generated": ["vendor/", "zz_generated.*", "*.pb.go", "docs/**", "hack/listed.json"]}),
            ),
        ];
        for (source, repo_files, settings) in sources {
            let forge = forge_with(files.clone(), &[]);
            forge.with(|s| {
                for (path, text) in repo_files {
                    s.files.insert(path.to_string(), text.as_bytes().to_vec());
                }
            });
            let actions = forge
                .run_with(&Size, &opened(), &settings)
                .await
                .expect("handled");
            let want = if source == "none" {
                "size/XXL"
            } else {
                "size/XS"
            };
            assert_eq!(added(&actions), vec![want], "{source}");
        }
    }

    /// Prow: every other `size/` label goes, the new one comes; the repo lacks it, so it is
    /// created first with Kubernetes' colour.
    #[tokio::test]
    async fn replaces_the_old_label_and_creates_a_missing_one() {
        let forge = forge_with(vec![file("a.go", 120, 30)], &["size/S", "lgtm", "size/XL"]);
        forge.with(|s| s.repo_labels.clear());
        let actions = forge
            .run(&Size, &pr_event(PrAction::Synchronized { before: None }))
            .await
            .expect("handled");
        assert_eq!(removed(&actions), vec!["size/S", "size/XL"]);
        assert_eq!(added(&actions), vec!["size/L"]);
        assert!(actions.contains(&Action::CreateLabel {
            forge: pr_ref().forge,
            repo: pr_ref().repo,
            name: "size/L".into(),
            color: "ee9900".into(),
        }));
        let create = actions
            .iter()
            .position(|a| matches!(a, Action::CreateLabel { .. }));
        let add = actions
            .iter()
            .position(|a| matches!(a, Action::AddLabel { .. }));
        assert!(create < add, "created before it is added");
    }

    #[tokio::test]
    async fn nothing_to_do_when_the_label_is_right() {
        let forge = forge_with(vec![file("a.go", 20, 0)], &["size/S", "lgtm"]);
        let calls_before = forge.snapshot().calls;
        let actions = forge
            .run(&Size, &pr_event(PrAction::Edited))
            .await
            .expect("handled");
        assert!(actions.is_empty(), "{actions:?}");
        let reads = forge.snapshot().calls - calls_before - 1;
        assert_eq!(
            reads, 4,
            "generated files, attributes, changed files, labels"
        );
    }

    #[tokio::test]
    async fn other_events_are_ignored() {
        let forge = forge_with(vec![file("a.go", 20, 0)], &[]);
        for action in [
            PrAction::Closed,
            PrAction::Labeled {
                label: "size/XS".into(),
            },
            PrAction::ReadyForReview,
            PrAction::Updated,
        ] {
            let actions = forge
                .run(&Size, &pr_event(action.clone()))
                .await
                .expect("handled");
            assert!(actions.is_empty(), "{action:?}");
        }
        let comment = crate::testing::comment_on_pr("alice", "/size");
        assert!(
            forge
                .run(&Size, &comment)
                .await
                .expect("handled")
                .is_empty()
        );
    }

    /// GitLab MR events carry no base SHA: the PR's own base is read instead.
    #[tokio::test]
    async fn without_a_base_sha_in_the_event_the_pr_is_asked() {
        let forge = forge_with(vec![file("a.go", 20, 0)], &[]);
        let mut event = opened();
        if let Event::PullRequest(pr) = &mut event {
            pr.base_sha = None;
        }
        let actions = forge.run(&Size, &event).await.expect("handled");
        assert_eq!(added(&actions), vec!["size/S"]);
    }
}
