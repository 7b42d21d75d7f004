//! The GitHub GraphQL subset bosun sends (`POST /graphql`), told apart by `operationName`:
//! `RepositoryId` (does a repository exist), `TransferIds` (the node ids of an issue and of a
//! destination repository) and `TransferIssue` (the `transferIssue` mutation). Node ids are
//! `R_<id>` for repositories and `I_<id>` for issues, as the REST issue answers say. Missing
//! objects come back as GitHub does: `null` data with a `NOT_FOUND` error and status 200.
//! Any other operation is not routed, so a test that sends one fails at teardown.

use crate::server::{Reply, Req};
use crate::world::World;
use bosun_plugins::{ForgeKind, ItemKind};
use serde_json::{Value, json};

/// Routes one GraphQL request; `None` for an operation this fake does not model.
pub(crate) fn route(world: &mut World, req: &Req<'_>) -> Option<Reply> {
    let body = req.json_body()?;
    let vars = body.get("variables").cloned().unwrap_or(Value::Null);
    let var = |name: &str| vars.get(name).and_then(Value::as_str).map(str::to_string);
    let answer = match body.get("operationName").and_then(Value::as_str)? {
        "RepositoryId" => {
            let path = format!("{}/{}", var("owner")?, var("name")?);
            let id = repo_node(world, &path);
            let missing = id.is_none();
            let mut answer = json!({ "data": { "repository": id.map(|id| json!({ "id": id })) } });
            if missing {
                answer["errors"] = not_found("repository", &path);
            }
            answer
        }
        "TransferIds" => transfer_ids(world, &vars)?,
        "TransferIssue" => transfer(world, &var("issue")?, &var("repository")?),
        _ => return None,
    };
    Some(Reply::json(200, answer))
}

fn repo_node(world: &World, path: &str) -> Option<String> {
    world.github.repo(path).map(|r| format!("R_{}", r.id))
}

fn not_found(field: &str, what: &str) -> Value {
    json!([{
        "type": "NOT_FOUND",
        "path": [field],
        "message": format!("Could not resolve to a node with the name '{what}'."),
    }])
}

fn transfer_ids(world: &World, vars: &Value) -> Option<Value> {
    let s = |name: &str| vars.get(name).and_then(Value::as_str);
    let source = format!("{}/{}", s("owner")?, s("name")?);
    let target = format!("{}/{}", s("toOwner")?, s("toName")?);
    let number = vars.get("number").and_then(Value::as_u64)?;
    let issue = world.github.repo(&source).and_then(|r| {
        let it = r.items.iter().find(|i| i.number == number)?;
        (it.kind == ItemKind::Issue).then(|| {
            json!({ "id": format!("I_{}", it.id), "repository": { "id": format!("R_{}", r.id) } })
        })
    });
    let target_id = repo_node(world, &target);
    let mut errors = Vec::new();
    if issue.is_none() {
        errors.push(not_found("source", &format!("{source}#{number}"))[0].clone());
    }
    if target_id.is_none() {
        errors.push(not_found("target", &target)[0].clone());
    }
    let mut answer = json!({
        "data": {
            "source": world.github.repo(&source).map(|_| json!({ "issue": issue })),
            "target": target_id.map(|id| json!({ "id": id })),
        }
    });
    if !errors.is_empty() {
        answer["errors"] = Value::Array(errors);
    }
    Some(answer)
}

fn transfer(world: &mut World, issue: &str, repository: &str) -> Value {
    let found = issue.strip_prefix("I_").and_then(|id| {
        let id: u64 = id.parse().ok()?;
        world.github.repos.iter().find_map(|r| {
            let idx = r
                .items
                .iter()
                .position(|i| i.id == id && i.kind == ItemKind::Issue)?;
            Some((r.path.clone(), idx))
        })
    });
    let to = repository.strip_prefix("R_").and_then(|id| {
        let id: u64 = id.parse().ok()?;
        world
            .github
            .repos
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.path.clone())
    });
    let (Some((from, idx)), Some(to)) = (found, to) else {
        return json!({ "data": { "transferIssue": null }, "errors": not_found("transferIssue", issue) });
    };
    match crate::issue_move::move_issue(world, ForgeKind::GitHub, &from, idx, &to) {
        Some(moved) => json!({ "data": { "transferIssue": { "issue": {
            "number": moved.number,
            "url": format!("https://github.com/{}/issues/{}", moved.repo, moved.number),
        } } } }),
        None => {
            json!({ "data": { "transferIssue": null }, "errors": not_found("transferIssue", issue) })
        }
    }
}
