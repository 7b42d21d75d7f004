//! The GitHub REST subset, in GitHub's response shapes (complete enough for octocrab's strict
//! models: labels carry id/node_id/url/color/default, comments a full user object).

use crate::server::{Reply, Req, decode};
use crate::world::{Comment, InstallationToken, Item, RepoLabel, Status, World, tree_listing};
use bosun_plugins::{ForgeKind, ItemKind, ItemState};
use serde_json::{Value, json};
use std::time::SystemTime;

const GH: ForgeKind = ForgeKind::GitHub;

/// Routes one request; `None` if no route matches.
pub(crate) fn route(world: &mut World, req: &Req<'_>) -> Option<Reply> {
    let s = &req.segments;
    if let Some(reply) = app_route(world, req) {
        return Some(reply);
    }
    if let Err(refused) = check_installation_token(world, req) {
        return Some(*refused);
    }
    let reply = match (req.method, s.as_slice()) {
        ("GET", ["user"]) => current_user(world, req),
        ("GET", ["search", "issues"]) => search_pulls(world, req),
        ("POST", ["graphql"]) => return crate::graphql::route(world, req),
        ("GET", ["orgs", org, "members", user]) => org_member(world, &decode(org), &decode(user)),
        ("GET", ["orgs", org, "teams", team, "memberships", user]) => {
            team_membership(world, req, &decode(org), &decode(team), &decode(user))
        }
        (m, ["repos", o, r, "issues", "comments", id]) => {
            let repo = format!("{}/{}", decode(o), decode(r));
            let id = id.parse().ok()?;
            match m {
                "GET" => get_comment(world, req, &repo, id),
                // GitHub accepts POST as an alias of PATCH; octocrab's update_comment uses it.
                "PATCH" | "POST" => edit_comment(world, req, &repo, id),
                "DELETE" => delete_comment(world, &repo, id),
                _ => return None,
            }
        }
        (m, ["repos", o, r, kind @ ("issues" | "pulls"), n, rest @ ..]) => {
            let repo = format!("{}/{}", decode(o), decode(r));
            let number: u64 = n.parse().ok()?;
            let Some(idx) = world
                .github
                .repo(&repo)
                .and_then(|r| r.item_index(None, number))
            else {
                return Some(error(404, "Not Found"));
            };
            let at = Target { repo, idx };
            if *kind == "pulls" {
                if world.github.repo(&at.repo)?.items[idx].kind != ItemKind::PullRequest {
                    return Some(error(404, "Not Found"));
                }
                return pulls_route(world, req, &at, m, rest);
            }
            match (m, rest) {
                ("PATCH", []) => edit_issue(world, req, &at),
                ("GET", ["labels"]) => list_labels(world, req, &at),
                ("POST", ["labels"]) => add_labels(world, req, &at),
                ("DELETE", ["labels", name]) => remove_label(world, req, &at, &decode(name)),
                ("GET", ["comments"]) => list_comments(world, req, &at),
                ("POST", ["comments"]) => create_comment(world, req, &at),
                ("POST", ["assignees"]) => edit_assignees(world, req, &at, true),
                ("DELETE", ["assignees"]) => edit_assignees(world, req, &at, false),
                _ => return None,
            }
        }
        (m, ["repos", o, r, rest @ ..]) => {
            if let Some(reply) =
                crate::ci::github_route(world, req, &format!("{}/{}", decode(o), decode(r)), rest)
            {
                return Some(reply);
            }
            if let Some(reply) =
                crate::git::github_route(world, req, &format!("{}/{}", decode(o), decode(r)), rest)
            {
                return Some(reply);
            }
            let modelled = matches!(
                (m, rest),
                ("GET", ["pulls"])
                    | ("GET", ["milestones"])
                    | ("GET" | "POST", ["labels"])
                    | ("GET", ["contents", _, ..])
                    | ("GET", ["git", "trees", _, ..])
                    | ("GET", ["git", "commits", _])
                    | ("GET", ["compare", _])
                    | ("GET", ["collaborators", _])
                    | ("GET", ["assignees", _])
                    | ("POST", ["statuses", _])
            );
            let repo = format!("{}/{}", decode(o), decode(r));
            if !modelled {
                return None;
            }
            if world.github.repo(&repo).is_none() {
                return Some(error(404, "Not Found"));
            }
            match (m, rest) {
                ("GET", ["pulls"]) => list_open_pulls(world, req, &repo),
                ("GET", ["labels"]) => list_repo_labels(world, req, &repo),
                ("GET", ["milestones"]) => list_milestones(world, req, &repo),
                ("POST", ["labels"]) => create_repo_label(world, req, &repo),
                ("GET", ["contents", path @ ..]) if !path.is_empty() => {
                    let path: Vec<String> = path.iter().map(|p| decode(p)).collect();
                    get_contents(world, req, &repo, &path.join("/"))
                }
                ("GET", ["git", "trees", git_ref @ ..]) if !git_ref.is_empty() => {
                    let git_ref: Vec<String> = git_ref.iter().map(|p| decode(p)).collect();
                    get_tree(world, req, &repo, &git_ref.join("/"))
                }
                ("GET", ["git", "commits", sha]) => get_commit(world, req, &repo, &decode(sha)),
                ("GET", ["compare", range]) => compare(world, req, &repo, &decode(range)),
                ("GET", ["collaborators", user]) => collaborator(world, &repo, &decode(user)),
                ("GET", ["assignees", user]) => assignable(world, &repo, &decode(user)),
                ("POST", ["statuses", sha]) => create_status(world, req, &repo, &decode(sha)),
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(reply)
}

/// The PR-only routes under `/repos/{o}/{r}/pulls/{n}`.
fn pulls_route(
    world: &mut World,
    req: &Req<'_>,
    at: &Target,
    method: &str,
    rest: &[&str],
) -> Option<Reply> {
    let reply = match (method, rest) {
        ("GET", []) => get_pull(world, req, at),
        ("GET", ["files"]) => list_files(world, req, at),
        ("GET", ["commits"]) => list_pull_commits(world, req, at),
        ("GET", ["reviews"]) => list_reviews(world, req, at),
        ("GET", ["requested_reviewers"]) => list_requested_reviewers(world, req, at),
        ("POST", ["requested_reviewers"]) => edit_reviewers(world, req, at, true),
        ("DELETE", ["requested_reviewers"]) => edit_reviewers(world, req, at, false),
        ("PUT", ["merge"]) => merge_pull(world, req, at),
        ("PUT", ["update-branch"]) => update_branch(world, req, at),
        _ => return None,
    };
    Some(reply)
}

/// GitHub's `basic-error` shape.
pub(crate) fn error(status: u16, message: &str) -> Reply {
    Reply::json(
        status,
        json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        }),
    )
}

/// An item located by repository path and index in that repository.
struct Target {
    repo: String,
    idx: usize,
}

fn current_user(world: &mut World, req: &Req<'_>) -> Reply {
    let login = world.github.bot.clone();
    let mut user = user_json(world, req, &login);
    let extra = json!({
        "name": login, "company": null, "blog": "", "location": null, "email": null,
        "hireable": null, "bio": null, "twitter_username": null, "public_repos": 0,
        "public_gists": 0, "followers": 0, "following": 0,
        "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
    });
    if let (Some(u), Some(e)) = (user.as_object_mut(), extra.as_object()) {
        u.extend(e.clone());
    }
    Reply::json(200, user)
}

/// A `simple-user` object with every field octocrab's `Author` requires.
fn user_json(world: &mut World, req: &Req<'_>, login: &str) -> Value {
    let id = world.user_id(login);
    let u = format!("{}/users/{login}", req.base);
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_{id}"),
        "avatar_url": format!("{}/avatars/{id}", req.base),
        "gravatar_id": "",
        "url": u,
        "html_url": format!("{}/{login}", req.base),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind,
        "site_admin": false,
    })
}

fn label_json(req: &Req<'_>, repo: &str, l: &RepoLabel) -> Value {
    json!({
        "id": l.id,
        "node_id": format!("LA_{}", l.id),
        "url": format!("{}/repos/{repo}/labels/{}", req.base, encode(&l.name)),
        "name": l.name,
        "color": l.color,
        "default": false,
        "description": l.description,
    })
}

fn comment_json(world: &mut World, req: &Req<'_>, repo: &str, number: u64, c: &Comment) -> Value {
    let user = user_json(world, req, &c.author);
    let url = format!("{}/repos/{repo}/issues/comments/{}", req.base, c.id);
    json!({
        "id": c.id,
        "node_id": format!("IC_{}", c.id),
        "url": url,
        "html_url": format!("{}/{repo}/issues/{number}#issuecomment-{}", req.base, c.id),
        "issue_url": format!("{}/repos/{repo}/issues/{number}", req.base),
        "body": c.body,
        "user": user,
        "created_at": c.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "updated_at": c.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "author_association": "NONE",
        "performed_via_github_app": null,
        "reactions": {
            "url": format!("{url}/reactions"), "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
            "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0,
        },
    })
}

/// The labels on an item, as label objects.
fn item_labels(world: &World, req: &Req<'_>, at: &Target) -> Vec<Value> {
    let Some(repo) = world.github.repo(&at.repo) else {
        return Vec::new();
    };
    repo.items[at.idx]
        .labels
        .iter()
        .filter_map(|name| repo.label(name))
        .map(|l| label_json(req, &at.repo, l))
        .collect()
}

fn list_labels(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    paginate(req, item_labels(world, req, at))
}

fn add_labels(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    // GitHub accepts {"labels": ["a"]}, a bare ["a"], and {"labels": [{"name": "a"}]}.
    let body = req.json_body().unwrap_or(Value::Null);
    let list = body.get("labels").unwrap_or(&body);
    let Some(list) = list.as_array() else {
        return error(422, "Invalid request.\n\n\"labels\" wasn't supplied.");
    };
    let names: Option<Vec<String>> = list
        .iter()
        .map(|v| {
            v.as_str()
                .or_else(|| v.get("name").and_then(Value::as_str))
                .map(str::to_string)
        })
        .collect();
    let Some(names) = names else {
        return error(422, "Invalid request.\n\nFor 'items', is not a string.");
    };
    // As documented for this endpoint, an empty list removes every label.
    if names.is_empty()
        && let Some(repo) = world.github.repo_mut(&at.repo)
    {
        repo.items[at.idx].labels.clear();
    }
    world.add_labels(GH, &at.repo, at.idx, &names);
    Reply::json(200, Value::Array(item_labels(world, req, at)))
}

fn remove_label(world: &mut World, req: &Req<'_>, at: &Target, name: &str) -> Reply {
    let Some(repo) = world.github.repo_mut(&at.repo) else {
        return error(404, "Not Found");
    };
    let labels = &mut repo.items[at.idx].labels;
    let before = labels.len();
    labels.retain(|l| !l.eq_ignore_ascii_case(name));
    if labels.len() == before {
        return error(404, "Label does not exist");
    }
    Reply::json(200, Value::Array(item_labels(world, req, at)))
}

fn list_comments(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(item) = world.github.repo(&at.repo).map(|r| r.items[at.idx].clone()) else {
        return error(404, "Not Found");
    };
    let all = item
        .comments
        .iter()
        .filter(|c| !c.system)
        .map(|c| comment_json(world, req, &at.repo, item.number, c))
        .collect();
    paginate(req, all)
}

fn create_comment(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(body) = req
        .json_body()
        .and_then(|v| v.get("body").and_then(Value::as_str).map(str::to_string))
    else {
        return error(422, "Invalid request.\n\n\"body\" wasn't supplied.");
    };
    let bot = world.github.bot.clone();
    let Some(id) = world.add_comment(GH, &at.repo, at.idx, &bot, &body) else {
        return error(404, "Not Found");
    };
    match find_comment(world, &at.repo, id) {
        Some((number, c)) => Reply::json(201, comment_json(world, req, &at.repo, number, &c))
            .header(
                "location",
                format!("{}/repos/{}/issues/comments/{id}", req.base, at.repo),
            ),
        None => error(404, "Not Found"),
    }
}

fn get_comment(world: &mut World, req: &Req<'_>, repo: &str, id: u64) -> Reply {
    match find_comment(world, repo, id) {
        Some((number, c)) => Reply::json(200, comment_json(world, req, repo, number, &c)),
        None => error(404, "Not Found"),
    }
}

fn edit_comment(world: &mut World, req: &Req<'_>, repo: &str, id: u64) -> Reply {
    let Some(body) = req
        .json_body()
        .and_then(|v| v.get("body").and_then(Value::as_str).map(str::to_string))
    else {
        return error(422, "Invalid request.\n\n\"body\" wasn't supplied.");
    };
    let now = world.tick();
    let Some(comment) = world.github.repo_mut(repo).and_then(|r| {
        r.items
            .iter_mut()
            .flat_map(|i| i.comments.iter_mut())
            .find(|c| c.id == id)
    }) else {
        return error(404, "Not Found");
    };
    comment.body = body;
    comment.updated_at = now;
    get_comment(world, req, repo, id)
}

fn find_comment(world: &World, repo: &str, id: u64) -> Option<(u64, Comment)> {
    world.github.repo(repo)?.items.iter().find_map(|i| {
        i.comments
            .iter()
            .find(|c| c.id == id)
            .map(|c| (i.number, c.clone()))
    })
}

/// GitHub's offset pagination: `per_page` (default 30, max 100) and `page`, with a `Link`
/// header carrying absolute URLs.
fn paginate(req: &Req<'_>, all: Vec<Value>) -> Reply {
    let per_page = req
        .query_param("per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = req
        .query_param("page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = all.len().div_ceil(per_page).max(1);
    let items: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let reply = Reply::json(200, Value::Array(items));
    let base = req
        .self_url
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let link =
        |p: usize, rel: &str| format!("<{base}?per_page={per_page}&page={p}>; rel=\"{rel}\"");
    let mut links = Vec::new();
    if page > 1 {
        links.push(link(page - 1, "prev"));
        links.push(link(1, "first"));
    }
    if page < last {
        links.push(link(page + 1, "next"));
        links.push(link(last, "last"));
    }
    if links.is_empty() {
        reply
    } else {
        reply.header("link", links.join(", "))
    }
}

/// Percent-encodes a label name for use in a URL path.
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

// ---------------------------------------------------------------------------------------------
// GitHub App authentication
// ---------------------------------------------------------------------------------------------

/// The JWT claims GitHub reads; `iss` may be a number or a string.
#[derive(serde::Deserialize)]
struct AppClaims {
    iss: Value,
    iat: u64,
    exp: u64,
}

/// The App endpoints, which only a valid App JWT may call; `None` for other paths.
fn app_route(world: &mut World, req: &Req<'_>) -> Option<Reply> {
    enum Call {
        Me,
        Mint(u64),
        Lookup(String, &'static str),
    }
    let call = match (req.method, req.segments.as_slice()) {
        ("GET", ["app"]) => Call::Me,
        ("POST", ["app", "installations", id, "access_tokens"]) => Call::Mint(id.parse().ok()?),
        ("GET", ["repos", owner, _, "installation"]) => Call::Lookup(decode(owner), "repo"),
        ("GET", ["orgs", org, "installation"]) => Call::Lookup(decode(org), "org"),
        ("GET", ["users", user, "installation"]) => Call::Lookup(decode(user), "user"),
        _ => return None,
    };
    if let Err(refused) = check_jwt(world, req) {
        return Some(*refused);
    }
    let app = world.github.app.clone()?;
    let reply = match call {
        Call::Me => Reply::json(
            200,
            json!({
                "id": app.id, "slug": app.slug, "node_id": format!("A_{}", app.id),
                "name": app.slug, "owner": null, "description": "",
                "external_url": "", "html_url": format!("{}/apps/{}", req.base, app.slug),
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
                "permissions": {}, "events": [],
            }),
        ),
        Call::Mint(id) => mint_token(world, req, id),
        Call::Lookup(owner, scope) => {
            let is_org = world.github.groups.contains_key(&owner);
            let fits = match scope {
                "org" => is_org,
                "user" => !is_org,
                _ => true,
            };
            match app.installations.get(&owner.to_ascii_lowercase()) {
                Some(id) if fits => Reply::json(
                    200,
                    json!({
                        "id": id,
                        "account": { "login": owner, "type": if is_org { "Organization" } else { "User" } },
                        "app_id": app.id, "app_slug": app.slug,
                        "target_type": if is_org { "Organization" } else { "User" },
                        "repository_selection": "all", "permissions": {}, "events": [],
                        "access_tokens_url": format!("{}/app/installations/{id}/access_tokens", req.base),
                    }),
                ),
                _ => error(404, "Not Found"),
            }
        }
    };
    Some(reply)
}

/// Checks the bearer is an RS256 JWT signed by the App's key, with `iss` = the App id and a
/// lifetime GitHub accepts (at most ten minutes).
pub(crate) fn check_jwt(world: &World, req: &Req<'_>) -> Result<(), Box<Reply>> {
    let Some(app) = &world.github.app else {
        return Err(Box::new(error(404, "Not Found")));
    };
    let refuse = |why: &str| Err(Box::new(error(401, why)));
    let Some(token) = req
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
    else {
        return refuse("A JSON web token could not be decoded");
    };
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return refuse("A JSON web token could not be decoded");
    };
    if header.alg != jsonwebtoken::Algorithm::RS256 || header.typ.as_deref() != Some("JWT") {
        return refuse("'Authorization' header is not an RS256 JWT");
    }
    let Ok(key) = jsonwebtoken::DecodingKey::from_rsa_pem(app.public_key_pem.as_bytes()) else {
        return Err(Box::new(error(
            500,
            "fake forge: the App's public key is not a PEM RSA key",
        )));
    };
    let validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    let claims = match jsonwebtoken::decode::<AppClaims>(token, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => return refuse(&format!("'Authorization' header is not a valid JWT: {e}")),
    };
    let iss = match &claims.iss {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    if iss != Some(app.id) {
        return refuse("Integration not found");
    }
    if claims.exp.saturating_sub(claims.iat) > 660 {
        return refuse("Expiration time' claim ('exp') is too far in the future");
    }
    Ok(())
}

fn mint_token(world: &mut World, req: &Req<'_>, installation: u64) -> Reply {
    let serial = world.next_id();
    let Some(app) = world.github.app.as_mut() else {
        return error(404, "Not Found");
    };
    if !app.installations.values().any(|id| *id == installation) {
        return error(404, "Not Found");
    }
    let expires_at = SystemTime::now() + app.token_ttl;
    let token = format!("ghs_fake{serial:032}");
    app.tokens.push(InstallationToken {
        token: token.clone(),
        installation,
        expires_at,
    });
    let expires = chrono::DateTime::<chrono::Utc>::from(expires_at)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Reply::json(
        201,
        json!({
            "token": token,
            "expires_at": expires,
            "permissions": { "issues": "write", "pull_requests": "write", "contents": "read" },
            "repository_selection": "all",
        }),
    )
    .header(
        "location",
        format!("{}/app/installations/{installation}", req.base),
    )
}

/// Installation tokens (`ghs_…`) must be ones the fake minted, not yet expired, and used on
/// their own installation's owner, as GitHub enforces.
pub(crate) fn check_installation_token(world: &World, req: &Req<'_>) -> Result<(), Box<Reply>> {
    let Some(token) = req.authorization.as_deref().and_then(|a| {
        a.strip_prefix("Bearer ")
            .or_else(|| a.strip_prefix("token "))
            .filter(|t| t.starts_with("ghs_"))
    }) else {
        return Ok(());
    };
    let Some(app) = &world.github.app else {
        return Err(Box::new(error(401, "Bad credentials")));
    };
    let Some(minted) = app.tokens.iter().find(|t| t.token == token) else {
        return Err(Box::new(error(401, "Bad credentials")));
    };
    if SystemTime::now() >= minted.expires_at {
        return Err(Box::new(error(401, "Bad credentials")));
    }
    let owner = match req.segments.as_slice() {
        ["repos", owner, ..] | ["orgs", owner, ..] => Some(decode(owner).to_ascii_lowercase()),
        ["user"] => {
            return Err(Box::new(error(
                403,
                "Resource not accessible by integration",
            )));
        }
        _ => None,
    };
    match owner {
        Some(owner) if app.installations.get(&owner) != Some(&minted.installation) => Err(
            Box::new(error(403, "Resource not accessible by integration")),
        ),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Membership
// ---------------------------------------------------------------------------------------------

fn org_member(world: &World, org: &str, user: &str) -> Reply {
    match world.github.group_level(org, user, false) {
        Some(_) => Reply::empty(204),
        None => error(404, "Not Found"),
    }
}

fn team_membership(world: &World, req: &Req<'_>, org: &str, team: &str, user: &str) -> Reply {
    let path = format!("{org}/{team}");
    match world.github.group_level(&path, user, false) {
        Some(level) => Reply::json(
            200,
            json!({
                "url": format!("{}/orgs/{org}/teams/{team}/memberships/{user}", req.base),
                "role": if level >= crate::world::access::MAINTAINER { "maintainer" } else { "member" },
                "state": "active",
            }),
        ),
        None => error(404, "Not Found"),
    }
}

fn collaborator(world: &World, repo: &str, user: &str) -> Reply {
    let site = &world.github;
    match site
        .repo(repo)
        .and_then(|r| r.member_level(site, user, false))
    {
        Some(_) => Reply::empty(204),
        None => error(404, "Not Found"),
    }
}

/// `GET /repos/{o}/{r}/assignees/{user}`: 204 when GitHub would assign the user, else 404.
fn assignable(world: &World, repo: &str, user: &str) -> Reply {
    let site = &world.github;
    match site.repo(repo) {
        Some(r) if r.can_be_assigned(site, user) => Reply::empty(204),
        _ => error(404, "Not Found"),
    }
}

/// GitHub keeps at most this many assignees on an issue or PR.
const MAX_ASSIGNEES: usize = 10;

// ---------------------------------------------------------------------------------------------
// Issues and pull requests
// ---------------------------------------------------------------------------------------------

fn item<'w>(world: &'w World, at: &Target) -> Option<&'w Item> {
    world.github.repo(&at.repo)?.items.get(at.idx)
}

fn item_mut<'w>(world: &'w mut World, at: &Target) -> Option<&'w mut Item> {
    world.github.repo_mut(&at.repo)?.items.get_mut(at.idx)
}

fn issue_json(world: &mut World, req: &Req<'_>, at: &Target) -> Value {
    let Some(it) = item(world, at).cloned() else {
        return Value::Null;
    };
    let user = user_json(world, req, &it.author);
    let assignees: Vec<Value> = it
        .assignees
        .iter()
        .map(|a| user_json(world, req, a))
        .collect();
    let url = format!("{}/repos/{}/issues/{}", req.base, at.repo, it.number);
    let mut v = json!({
        "id": it.id,
        "node_id": format!("I_{}", it.id),
        "url": url,
        "number": it.number,
        "title": it.title,
        "state": if it.state == ItemState::Open { "open" } else { "closed" },
        "state_reason": it.state_reason,
        "user": user,
        "labels": item_labels(world, req, at),
        "assignee": assignees.first().cloned(),
        "assignees": assignees,
        "comments": it.comments.len(),
        "locked": false,
        "body": it.body,
        "created_at": it.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "updated_at": it.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "closed_at": null,
        "author_association": "NONE",
        "milestone": milestone_of(world, &at.repo, it.milestone),
    });
    if it.kind == ItemKind::PullRequest
        && let Some(o) = v.as_object_mut()
    {
        o.insert(
            "pull_request".into(),
            json!({ "url": format!("{}/repos/{}/pulls/{}", req.base, at.repo, it.number) }),
        );
    }
    v
}

fn pull_json(world: &mut World, req: &Req<'_>, at: &Target) -> Value {
    let Some(it) = item(world, at).cloned() else {
        return Value::Null;
    };
    let mut v = issue_json(world, req, at);
    let reviewers: Vec<Value> = it
        .requested_reviewers
        .iter()
        .map(|r| user_json(world, req, r))
        .collect();
    let teams: Vec<Value> = it
        .requested_teams
        .iter()
        .map(|t| json!({ "slug": t, "name": t }))
        .collect();
    let branch =
        |r: &str, sha: &str| json!({ "label": format!("{}:{r}", at.repo), "ref": r, "sha": sha });
    let merged = it.state == ItemState::Merged;
    let extra = json!({
        "url": format!("{}/repos/{}/pulls/{}", req.base, at.repo, it.number),
        "draft": it.draft,
        "merged": merged,
        "mergeable": it.mergeable,
        "merged_at": if merged { json!("2024-01-01T00:00:00Z") } else { Value::Null },
        "head": branch(&it.head_ref, &it.head_sha),
        "base": branch(&it.base_ref, &it.base_sha),
        "requested_reviewers": reviewers,
        "requested_teams": teams,
        "changed_files": it.changed_files.len(),
    });
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        o.remove("pull_request");
        o.extend(e.clone());
    }
    v
}

fn edit_issue(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let body = req.json_body().unwrap_or(Value::Null);
    // `milestone`: a milestone number of the repository, or null to clear.
    let milestone = match body.get("milestone") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => {
            let found = v.as_u64().and_then(|n| {
                world
                    .github
                    .repo(&at.repo)?
                    .milestones
                    .iter()
                    .find(|m| m.number == n)
                    .map(|m| m.id)
            });
            match found {
                Some(id) => Some(Some(id)),
                None => return error(422, "Validation Failed"),
            }
        }
    };
    let Some(it) = item_mut(world, at) else {
        return error(404, "Not Found");
    };
    if let Some(m) = milestone {
        it.milestone = m;
    }
    if let Some(title) = body.get("title").and_then(Value::as_str) {
        if title.is_empty() {
            return error(422, "Validation Failed");
        }
        it.title = title.to_string();
    }
    let reason = match body.get("state_reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r))
            if matches!(r.as_str(), "completed" | "not_planned" | "reopened") =>
        {
            Some(r.clone())
        }
        Some(_) => return error(422, "Validation Failed"),
    };
    match body.get("state").and_then(Value::as_str) {
        Some("closed") if it.state == ItemState::Open => {
            it.state = ItemState::Closed;
            // GitHub's default reason for a close is `completed`.
            it.state_reason = Some(reason.unwrap_or_else(|| "completed".into()));
        }
        Some("open") if it.state == ItemState::Merged => {
            return error(
                422,
                "state cannot be changed. The pull request is already merged.",
            );
        }
        Some("open") => {
            if it.state != ItemState::Open {
                it.state_reason = Some("reopened".into());
            }
            it.state = ItemState::Open;
        }
        Some("closed") | None => {}
        Some(_) => return error(422, "Validation Failed"),
    }
    Reply::json(200, issue_json(world, req, at))
}

/// The string list under `field` of a JSON body.
fn string_list(req: &Req<'_>, field: &str) -> Vec<String> {
    req.json_body()
        .and_then(|v| v.get(field).cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

fn edit_assignees(world: &mut World, req: &Req<'_>, at: &Target, add: bool) -> Reply {
    let users = string_list(req, "assignees");
    // GitHub silently skips users it cannot assign: neither assignable in the repository nor
    // commenters on the item, and everyone beyond its cap; tests can make it skip others.
    let assignable: Vec<bool> = {
        let site = &world.github;
        let commented = |u: &str| {
            item(world, at).is_some_and(|it| {
                it.author.eq_ignore_ascii_case(u)
                    || it.comments.iter().any(|c| c.author.eq_ignore_ascii_case(u))
            })
        };
        users
            .iter()
            .map(|u| {
                let repo = site.repo(&at.repo);
                (repo.is_some_and(|r| r.can_be_assigned(site, u)) || commented(u))
                    && !repo.is_some_and(|r| r.drops_at_write(u))
            })
            .collect()
    };
    let Some(it) = item_mut(world, at) else {
        return error(404, "Not Found");
    };
    for (u, ok) in users.into_iter().zip(assignable) {
        let present = it.assignees.iter().any(|a| a.eq_ignore_ascii_case(&u));
        if add && !present && ok && it.assignees.len() < MAX_ASSIGNEES {
            it.assignees.push(u);
        } else if !add {
            it.assignees.retain(|a| !a.eq_ignore_ascii_case(&u));
        }
    }
    Reply::json(if add { 201 } else { 200 }, issue_json(world, req, at))
}

/// `GET /repos/{o}/{r}/pulls`: the open PRs, newest first, without `mergeable` (GitHub's list
/// leaves it out), paged.
fn list_open_pulls(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let indexes: Vec<usize> = world
        .github
        .repo(repo)
        .map(|r| {
            r.items
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, i)| i.kind == ItemKind::PullRequest && i.state == ItemState::Open)
                .map(|(idx, _)| idx)
                .collect()
        })
        .unwrap_or_default();
    let all: Vec<Value> = indexes
        .into_iter()
        .map(|idx| {
            let at = Target {
                repo: repo.to_string(),
                idx,
            };
            let mut v = pull_json(world, req, &at);
            if let Some(o) = v.as_object_mut() {
                o.remove("mergeable");
            }
            v
        })
        .collect();
    paginate(req, all)
}

/// `GET /search/issues?q=is:pr repo:o/r author:login`: the PRs (any state) matching, newest
/// first; other qualifiers are not modelled (422).
fn search_pulls(world: &mut World, req: &Req<'_>) -> Reply {
    let q = req.query_param("q").unwrap_or_default().to_string();
    let (mut repo, mut author, mut prs) = (None, None, false);
    for term in q.split_whitespace() {
        match term.split_once(':') {
            Some(("repo", r)) => repo = Some(r.to_string()),
            Some(("author", a)) => author = Some(a.to_string()),
            Some(("is", "pr")) => prs = true,
            _ => return error(422, "Validation Failed"),
        }
    }
    let (Some(repo), Some(author), true) = (repo, author, prs) else {
        return error(422, "Validation Failed");
    };
    let items: Vec<Value> = world
        .github
        .repo(&repo)
        .map(|r| {
            r.items
                .iter()
                .rev()
                .filter(|i| {
                    i.kind == ItemKind::PullRequest && i.author.eq_ignore_ascii_case(&author)
                })
                .map(|i| json!({ "number": i.number, "title": i.title }))
                .collect()
        })
        .unwrap_or_default();
    let per_page: usize = req
        .query_param("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30);
    let total = items.len();
    let items: Vec<Value> = items.into_iter().take(per_page).collect();
    Reply::json(
        200,
        json!({ "total_count": total, "incomplete_results": false, "items": items }),
    )
}

fn get_pull(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    Reply::json(200, pull_json(world, req, at))
}

/// GitHub lists at most 3000 files of a pull request.
const MAX_PULL_FILES: usize = 3000;

fn list_reviews(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(it) = item(world, at).cloned() else {
        return error(404, "Not Found");
    };
    let all = it
        .reviews
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "node_id": format!("PRR_{}", r.id),
                "user": user_json(world, req, &r.author),
                "body": r.body,
                "state": r.state,
                "submitted_at": r.submitted_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "commit_id": it.head_sha,
                "author_association": "MEMBER",
            })
        })
        .collect();
    paginate(req, all)
}

/// GitHub lists at most 250 commits of a pull request.
const MAX_PULL_COMMITS: usize = 250;

/// `GET /repos/{o}/{r}/pulls/{n}/commits`: the seeded commits, oldest first, paged.
fn list_pull_commits(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(it) = item(world, at) else {
        return error(404, "Not Found");
    };
    let commits = it
        .commits
        .iter()
        .take(MAX_PULL_COMMITS)
        .map(|c| {
            let person = json!({
                "name": c.author_name,
                "email": c.author_email,
                "date": "2024-01-01T00:00:00Z",
            });
            json!({
                "sha": c.sha,
                "node_id": format!("C_{}", c.sha),
                "url": format!("{}/repos/{}/commits/{}", req.base, at.repo, c.sha),
                "commit": {
                    "author": person,
                    "committer": person,
                    "message": c.message,
                    "tree": { "sha": crate::world::hash_hex(&[b"tree", c.sha.as_bytes()]) },
                    "comment_count": 0,
                },
                "author": c.author_login.as_ref().map(|l| json!({ "login": l, "type": "User" })),
                "committer": null,
                "parents": c.parents.iter().map(|p| json!({ "sha": p })).collect::<Vec<_>>(),
            })
        })
        .collect();
    paginate(req, commits)
}

fn list_files(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(it) = item(world, at) else {
        return error(404, "Not Found");
    };
    let files = it
        .changed_files
        .iter()
        .take(MAX_PULL_FILES)
        .map(|f| {
            let status = match (&f.previous_path, f.additions, f.deletions) {
                (Some(_), _, _) => "renamed",
                (None, _, 0) => "added",
                (None, 0, _) => "removed",
                _ => "modified",
            };
            let mut v = json!({
                "sha": crate::world::blob_sha(f.path.as_bytes()),
                "filename": f.path,
                "status": status,
                "additions": f.additions,
                "deletions": f.deletions,
                "changes": f.additions + f.deletions,
                "blob_url": format!("{}/{}/blob/{}/{}", req.base, at.repo, it.head_sha, f.path),
                "raw_url": format!("{}/{}/raw/{}/{}", req.base, at.repo, it.head_sha, f.path),
                "contents_url": format!("{}/repos/{}/contents/{}?ref={}", req.base, at.repo, f.path, it.head_sha),
                "patch": "@@ -1 +1 @@",
            });
            if let (Some(prev), Some(o)) = (&f.previous_path, v.as_object_mut()) {
                o.insert("previous_filename".into(), json!(prev));
            }
            v
        })
        .collect();
    paginate(req, files)
}

fn list_requested_reviewers(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let Some(it) = item(world, at).cloned() else {
        return error(404, "Not Found");
    };
    let users: Vec<Value> = it
        .requested_reviewers
        .iter()
        .map(|r| user_json(world, req, r))
        .collect();
    let teams: Vec<Value> = it
        .requested_teams
        .iter()
        .map(|t| json!({ "slug": t, "name": t }))
        .collect();
    Reply::json(200, json!({ "users": users, "teams": teams }))
}

fn edit_reviewers(world: &mut World, req: &Req<'_>, at: &Target, add: bool) -> Reply {
    let mut users = string_list(req, "reviewers");
    let teams = string_list(req, "team_reviewers");
    if add && let Some(repo) = world.github.repo(&at.repo) {
        let site = &world.github;
        if users
            .iter()
            .any(|u| repo.member_level(site, u, true).is_none())
        {
            return error(
                422,
                &format!(
                    "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {} repository.",
                    at.repo
                ),
            );
        }
        users.retain(|u| !repo.drops_at_write(u));
    }
    let Some(it) = item_mut(world, at) else {
        return error(404, "Not Found");
    };
    if add && users.iter().any(|u| u.eq_ignore_ascii_case(&it.author)) {
        return error(422, "Review cannot be requested from pull request author.");
    }
    for (list, names) in [
        (&mut it.requested_reviewers, users),
        (&mut it.requested_teams, teams),
    ] {
        for n in names {
            let present = list.iter().any(|x| x.eq_ignore_ascii_case(&n));
            if add && !present {
                list.push(n);
            } else if !add {
                list.retain(|x| !x.eq_ignore_ascii_case(&n));
            }
        }
    }
    Reply::json(if add { 201 } else { 200 }, pull_json(world, req, at))
}

fn merge_pull(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let body = req.json_body().unwrap_or(json!({}));
    let method = body
        .get("merge_method")
        .and_then(Value::as_str)
        .unwrap_or("merge")
        .to_string();
    if !matches!(method.as_str(), "merge" | "squash" | "rebase") {
        return error(
            422,
            "Invalid request.\n\nmerge_method is not a member of [\"merge\", \"squash\", \"rebase\"].",
        );
    }
    let expected = body.get("sha").and_then(Value::as_str).map(str::to_string);
    let Some(it) = item_mut(world, at) else {
        return error(404, "Not Found");
    };
    if it.state != ItemState::Open || !it.mergeable {
        return error(405, "Pull Request is not mergeable");
    }
    if expected.is_some_and(|sha| sha != it.head_sha) {
        return error(
            409,
            "Head branch was modified. Review and try the merge again.",
        );
    }
    it.state = ItemState::Merged;
    it.merged_with = Some(method);
    let sha = crate::world::hash_hex(&[b"merge", it.head_sha.as_bytes()]);
    world.land_on_base(ForgeKind::GitHub, &at.repo, at.idx);
    Reply::json(
        200,
        json!({ "sha": sha, "merged": true, "message": "Pull Request successfully merged" }),
    )
}

/// `PUT /pulls/{n}/update-branch`: 422 when `expected_head_sha` is not the head; otherwise
/// the head becomes a commit on the base's tip (GitHub merges the base in; a fake needs only
/// the ancestry) and the answer is 202.
fn update_branch(world: &mut World, req: &Req<'_>, at: &Target) -> Reply {
    let body = req.json_body().unwrap_or(json!({}));
    let expected = body.get("expected_head_sha").and_then(Value::as_str);
    let Some(it) = item_mut(world, at) else {
        return error(404, "Not Found");
    };
    if it.state != ItemState::Open {
        return error(422, "Pull request is not open.");
    }
    if expected.is_some_and(|sha| sha != it.head_sha) {
        return error(422, "expected head sha didn't match current head ref.");
    }
    world.update_from_base(ForgeKind::GitHub, &at.repo, at.idx);
    Reply::json(
        202,
        json!({ "message": "Updating pull request branch.", "url": format!("{}/repos/{}/pulls", req.base, at.repo) }),
    )
}

fn delete_comment(world: &mut World, repo: &str, id: u64) -> Reply {
    let Some(repo) = world.github.repo_mut(repo) else {
        return error(404, "Not Found");
    };
    for it in &mut repo.items {
        let before = it.comments.len();
        it.comments.retain(|c| c.id != id);
        if it.comments.len() != before {
            return Reply::empty(204);
        }
    }
    error(404, "Not Found")
}

// ---------------------------------------------------------------------------------------------
// Repository: labels, contents, trees, commits, statuses
// ---------------------------------------------------------------------------------------------

fn list_repo_labels(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let labels = world
        .github
        .repo(repo)
        .map(|r| r.labels.iter().map(|l| label_json(req, repo, l)).collect())
        .unwrap_or_default();
    paginate(req, labels)
}

fn milestone_json(m: &crate::Milestone) -> Value {
    json!({
        "id": m.id,
        "number": m.number,
        "title": m.title,
        "state": if m.open { "open" } else { "closed" },
    })
}

/// An item's milestone as GitHub embeds it, or null.
fn milestone_of(world: &World, repo: &str, id: Option<u64>) -> Value {
    id.and_then(|id| {
        world
            .github
            .repo(repo)?
            .milestones
            .iter()
            .find(|m| m.id == id)
            .map(milestone_json)
    })
    .unwrap_or(Value::Null)
}

/// `GET /repos/{o}/{r}/milestones`: the open ones by default, as GitHub; `state=all` or
/// `state=closed` as asked.
fn list_milestones(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let state = req.query_param("state").unwrap_or("open");
    let all = world
        .github
        .repo(repo)
        .map(|r| {
            r.milestones
                .iter()
                .filter(|m| match state {
                    "all" => true,
                    "closed" => !m.open,
                    _ => m.open,
                })
                .map(milestone_json)
                .collect()
        })
        .unwrap_or_default();
    paginate(req, all)
}

fn create_repo_label(world: &mut World, req: &Req<'_>, repo: &str) -> Reply {
    let body = req.json_body().unwrap_or(Value::Null);
    let Some(name) = body.get("name").and_then(Value::as_str).map(str::to_string) else {
        return error(422, "Invalid request.\n\n\"name\" wasn't supplied.");
    };
    let color = body
        .get("color")
        .and_then(Value::as_str)
        .unwrap_or("ededed")
        .trim_start_matches('#')
        .to_string();
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string);
    let id = world.next_id();
    let Some(r) = world.github.repo_mut(repo) else {
        return error(404, "Not Found");
    };
    if r.label(&name).is_some() {
        return validation_failed("Label", "already_exists", "name");
    }
    if color.len() != 6 || !color.chars().all(|c| c.is_ascii_hexdigit()) {
        return validation_failed("Label", "invalid", "color");
    }
    let label = RepoLabel {
        id,
        name,
        color,
        description,
    };
    r.labels.push(label.clone());
    Reply::json(201, label_json(req, repo, &label))
}

/// GitHub's `validation-error` (422) with one error.
fn validation_failed(resource: &str, code: &str, field: &str) -> Reply {
    Reply::json(
        422,
        json!({
            "message": "Validation Failed",
            "errors": [{ "resource": resource, "code": code, "field": field }],
            "documentation_url": "https://docs.github.com/rest",
            "status": "422",
        }),
    )
}

/// Files and directories at a ref: raw bytes when asked for `vnd.github.raw`, else GitHub's
/// `content-file` with base64 content (or a directory listing).
fn get_contents(world: &mut World, req: &Req<'_>, repo: &str, path: &str) -> Reply {
    let git_ref = req.query_param("ref").unwrap_or("main");
    let Some(files) = world.github.repo(repo).and_then(|r| r.files_at(git_ref)) else {
        return error(404, &format!("No commit found for the ref {git_ref}"));
    };
    let raw = req
        .accept
        .as_deref()
        .is_some_and(|a| a.contains("vnd.github.raw") || a.contains("vnd.github.v3.raw"));
    let entry = |p: &str, kind: &str, sha: &str, size: usize| {
        json!({
            "type": kind, "name": p.rsplit('/').next().unwrap_or(p), "path": p, "sha": sha,
            "size": size, "url": format!("{}/repos/{repo}/contents/{p}?ref={git_ref}", req.base),
        })
    };
    if let Some(content) = files.get(path) {
        if raw {
            return Reply::raw(
                200,
                "application/vnd.github.raw; charset=utf-8",
                content.clone(),
            );
        }
        let mut v = entry(
            path,
            "file",
            &crate::world::blob_sha(content),
            content.len(),
        );
        if let Some(o) = v.as_object_mut() {
            o.insert("encoding".into(), json!("base64"));
            o.insert("content".into(), json!(base64(content)));
        }
        return Reply::json(200, v);
    }
    let prefix = format!("{path}/");
    let (_, listing) = tree_listing(files);
    let children: Vec<Value> = listing
        .iter()
        .filter(|e| {
            e.path
                .strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains('/'))
        })
        .map(|e| {
            let kind = if e.kind == "tree" { "dir" } else { "file" };
            entry(&e.path, kind, &e.sha, e.size.unwrap_or(0))
        })
        .collect();
    if children.is_empty() {
        return error(404, "Not Found");
    }
    Reply::json(200, Value::Array(children))
}

fn get_tree(world: &mut World, req: &Req<'_>, repo: &str, git_ref: &str) -> Reply {
    let Some(files) = world.github.repo(repo).and_then(|r| r.files_at(git_ref)) else {
        return error(404, "Not Found");
    };
    let recursive = req.query_param("recursive").is_some();
    let (root, listing) = tree_listing(files);
    let tree: Vec<Value> = listing
        .iter()
        .filter(|e| recursive || !e.path.contains('/'))
        .map(|e| {
            let mut v = json!({
                "path": e.path, "mode": e.mode, "type": e.kind, "sha": e.sha,
                "url": format!("{}/repos/{repo}/git/{}s/{}", req.base, e.kind, e.sha),
            });
            if let (Some(size), Some(o)) = (e.size, v.as_object_mut()) {
                o.insert("size".into(), json!(size));
            }
            v
        })
        .collect();
    Reply::json(
        200,
        json!({
            "sha": root,
            "url": format!("{}/repos/{repo}/git/trees/{root}", req.base),
            "tree": tree,
            "truncated": false,
        }),
    )
}

fn get_commit(world: &mut World, req: &Req<'_>, repo: &str, sha: &str) -> Reply {
    let Some(commit) = world.github.repo(repo).and_then(|r| r.commits.get(sha)) else {
        return error(404, "Not Found");
    };
    let tree = crate::world::tree_sha(&commit.files);
    let person =
        json!({ "name": "Fake", "email": "fake@example.com", "date": "2024-01-01T00:00:00Z" });
    Reply::json(
        200,
        json!({
            "sha": sha,
            "node_id": format!("C_{sha}"),
            "url": format!("{}/repos/{repo}/git/commits/{sha}", req.base),
            "html_url": format!("{}/{repo}/commit/{sha}", req.base),
            "author": person, "committer": person,
            "message": "fake commit",
            "tree": { "sha": tree, "url": format!("{}/repos/{repo}/git/trees/{tree}", req.base) },
            "parents": [],
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null },
        }),
    )
}

/// GitHub's most files in one comparison.
const COMPARE_FILE_CAP: usize = 300;

/// `GET /repos/{o}/{r}/compare/{base}...{head}`: how `head` relates to `base` (`identical`,
/// `ahead`, `behind`, `diverged`) and the files changed from their merge base to `head`, at
/// most 300 of them; 404 without a common ancestor, as GitHub answers.
fn compare(world: &mut World, req: &Req<'_>, repo: &str, range: &str) -> Reply {
    let Some((base, head)) = range.split_once("...") else {
        return error(404, "Not Found");
    };
    let Some(r) = world.github.repo(repo) else {
        return error(404, "Not Found");
    };
    let (Some(base), Some(head)) = (r.resolve(base), r.resolve(head)) else {
        return error(404, "Not Found");
    };
    let Some(merge_base) = r.merge_base(&base, &head) else {
        return error(
            404,
            &format!("No common ancestor between {base} and {head}."),
        );
    };
    let ahead_by = r
        .ancestry(&head)
        .iter()
        .position(|c| *c == merge_base)
        .unwrap_or(0);
    let behind_by = r
        .ancestry(&base)
        .iter()
        .position(|c| *c == merge_base)
        .unwrap_or(0);
    let status = match (ahead_by, behind_by) {
        (0, 0) => "identical",
        (_, 0) => "ahead",
        (0, _) => "behind",
        _ => "diverged",
    };
    let empty = std::collections::BTreeMap::new();
    let from = r.commits.get(&merge_base).map_or(&empty, |c| &c.files);
    let to = r.commits.get(&head).map_or(&empty, |c| &c.files);
    let files: Vec<Value> = crate::world::diff_snapshots(from, to)
        .into_iter()
        .take(COMPARE_FILE_CAP)
        .map(|f| {
            let mut v = json!({
                "sha": f.sha, "filename": f.path, "status": f.status,
                "additions": 0, "deletions": 0, "changes": 0,
                "blob_url": format!("{}/{repo}/blob/{head}/{}", req.base, f.path),
                "raw_url": format!("{}/{repo}/raw/{head}/{}", req.base, f.path),
                "contents_url": format!("{}/repos/{repo}/contents/{}?ref={head}", req.base, f.path),
            });
            if let (Some(prev), Some(o)) = (f.previous_path, v.as_object_mut()) {
                o.insert("previous_filename".into(), json!(prev));
            }
            v
        })
        .collect();
    Reply::json(
        200,
        json!({
            "url": format!("{}/repos/{repo}/compare/{base}...{head}", req.base),
            "status": status,
            "ahead_by": ahead_by,
            "behind_by": behind_by,
            "total_commits": ahead_by,
            "merge_base_commit": { "sha": merge_base },
            "commits": [],
            "files": files,
        }),
    )
}

fn create_status(world: &mut World, req: &Req<'_>, repo: &str, sha: &str) -> Reply {
    let body = req.json_body().unwrap_or(Value::Null);
    let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    let Some(state) =
        text("state").filter(|s| matches!(s.as_str(), "error" | "failure" | "pending" | "success"))
    else {
        return error(
            422,
            "Invalid request.\n\nstate is not a member of [\"error\", \"failure\", \"pending\", \"success\"].",
        );
    };
    let status = Status {
        sha: sha.to_string(),
        state,
        context: text("context").unwrap_or_else(|| "default".into()),
        description: text("description"),
        target_url: text("target_url"),
    };
    let id = world.next_id();
    let bot = world.github.bot.clone();
    let creator = user_json(world, req, &bot);
    let Some(r) = world.github.repo_mut(repo) else {
        return error(404, "Not Found");
    };
    r.statuses.push(status.clone());
    Reply::json(
        201,
        json!({
            "url": format!("{}/repos/{repo}/statuses/{sha}", req.base),
            "id": id, "node_id": format!("SC_{id}"),
            "state": status.state, "description": status.description,
            "target_url": status.target_url, "context": status.context,
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "creator": creator,
        }),
    )
}

/// Standard base64 with padding (GitHub's `content` field, minus its line breaks).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
