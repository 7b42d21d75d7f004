//! The GitHub REST subset, in GitHub's response shapes (complete enough for octocrab's strict
//! models: labels carry id/node_id/url/color/default, comments a full user object).

use crate::server::{Reply, Req, decode};
use crate::world::{Comment, RepoLabel, World};
use bosun_plugins::ForgeKind;
use serde_json::{Value, json};

const GH: ForgeKind = ForgeKind::GitHub;

/// Routes one request; `None` if no route matches.
pub(crate) fn route(world: &mut World, req: &Req<'_>) -> Option<Reply> {
    let s = &req.segments;
    let reply = match (req.method, s.as_slice()) {
        ("GET", ["user"]) => current_user(world, req),
        (m, ["repos", o, r, "issues", "comments", id]) => {
            let repo = format!("{}/{}", decode(o), decode(r));
            let id = id.parse().ok()?;
            match m {
                "GET" => get_comment(world, req, &repo, id),
                // GitHub accepts POST as an alias of PATCH; octocrab's update_comment uses it.
                "PATCH" | "POST" => edit_comment(world, req, &repo, id),
                _ => return None,
            }
        }
        (m, ["repos", o, r, "issues", n, rest @ ..]) => {
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
            match (m, rest) {
                ("GET", ["labels"]) => list_labels(world, req, &at),
                ("POST", ["labels"]) => add_labels(world, req, &at),
                ("DELETE", ["labels", name]) => remove_label(world, req, &at, &decode(name)),
                ("GET", ["comments"]) => list_comments(world, req, &at),
                ("POST", ["comments"]) => create_comment(world, req, &at),
                _ => return None,
            }
        }
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
