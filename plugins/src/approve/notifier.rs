//! The `[APPROVALNOTIFIER]` comment, in Prow's format (reference/prow.md §3.2 "Notification
//! comment").

use super::Approval;
use crate::{ForgeKind, Item};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The line saying a person's `approved` label overrides the requirements.
pub(super) const MANUAL_TEXT: &str = "Approval requirements bypassed by manually added approval.";

/// Web links for the notifier, derived from the PR's own URL.
pub(super) struct Links {
    /// `https://github.com` or `https://gitlab.example`.
    host: String,
    /// The repository's web page.
    repo: String,
    /// `blob` (GitHub) or `-/blob` (GitLab).
    blob: &'static str,
}

impl Links {
    pub(super) fn new(item: &Item) -> Links {
        let url = item.html_url.as_str();
        let host_end = url
            .find("://")
            .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
            .unwrap_or(url.len());
        let host = url[..host_end].to_string();
        let (repo, blob) = match item.reference.forge {
            ForgeKind::GitHub => (format!("{host}/{}", item.reference.repo.as_str()), "blob"),
            ForgeKind::GitLab => (format!("{host}/{}", item.reference.repo.as_str()), "-/blob"),
        };
        Links { host, repo, blob }
    }

    fn person(&self, login: &str) -> String {
        format!("[{login}]({}/{login})", self.host)
    }

    fn owners_file(&self, key: &str, branch: &str) -> (String, String) {
        let path = if key.is_empty() {
            "OWNERS".to_string()
        } else if key.ends_with(".md") {
            key.to_string()
        } else {
            format!("{key}/OWNERS")
        };
        let url = format!("{}/{}/{branch}/{path}", self.repo, self.blob);
        (path, url)
    }
}

/// Everything the notifier shows.
pub(super) struct Notice<'a> {
    pub(super) approved: bool,
    pub(super) manual: bool,
    pub(super) files_approved: bool,
    /// The change has more files than bosun looks at: this many were looked at.
    pub(super) cut_at: Option<usize>,
    pub(super) approvals: &'a BTreeMap<String, Approval>,
    pub(super) pr_url: &'a str,
    pub(super) assigned_ccs: Vec<String>,
    pub(super) suggested_ccs: Vec<String>,
    pub(super) all_ccs: Vec<String>,
    pub(super) issue: IssueLine,
    pub(super) help_url: &'a str,
    pub(super) pr_process_link: &'a str,
    pub(super) forge: ForgeKind,
    /// (OWNERS key, approvers of it among the current ones, partially approved).
    pub(super) files: Vec<(String, Vec<String>, bool)>,
    pub(super) branch: &'a str,
    pub(super) links: Links,
    /// `org%2Frepo`, for the command-help link.
    pub(super) repo_param: String,
}

pub(super) enum IssueLine {
    NotRequired,
    Associated(u64),
    Bypassed,
    ManualBypass,
    Missing,
}

fn approval_list(
    approvals: &BTreeMap<String, Approval>,
    pr_url: &str,
    only_no_issue: bool,
) -> String {
    approvals
        .values()
        .filter(|a| !only_no_issue || a.no_issue)
        .map(|a| {
            format!(
                "*<a href=\"{pr_url}#\" title=\"{}\">{}</a>*",
                a.how.text(),
                a.login
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Notice<'_> {
    pub(super) fn render(&self) -> String {
        let mut m = String::new();
        let title = if self.approved {
            "**APPROVED**"
        } else {
            "**NOT APPROVED**"
        };
        let _ = write!(m, "[APPROVALNOTIFIER] This PR is {title}\n\n");
        if self.manual && !self.files_approved {
            let _ = write!(m, "{MANUAL_TEXT}\n\n");
        }
        if let Some(n) = self.cut_at {
            let _ = write!(
                m,
                "This pull request changes more than {n} files, more than bosun examines (`[limits] max_changed_files`), so approvals cannot cover it; an `approved` label added by a person approves it.\n\n"
            );
        }
        let _ = write!(
            m,
            "This pull-request has been approved by: {}",
            approval_list(self.approvals, self.pr_url, false)
        );
        if !self.files_approved && !self.manual {
            let people = |v: &[String]| {
                v.iter()
                    .map(|p| self.links.person(p))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let process = format!(
                "For more information see [the Code Review Process]({}).",
                self.pr_process_link
            );
            let ask = match (self.assigned_ccs.is_empty(), self.suggested_ccs.is_empty()) {
                (true, false) => Some(format!(
                    "please assign {} for approval. {process}",
                    people(&self.suggested_ccs)
                )),
                (false, false) => Some(format!(
                    "please ask for approval from {} and additionally assign {} for approval. {process}",
                    people(&self.assigned_ccs),
                    people(&self.suggested_ccs)
                )),
                (false, true) => Some(format!(
                    "please ask for approval from {}. {process}",
                    people(&self.assigned_ccs)
                )),
                (true, true) => None,
            };
            if let Some(ask) = ask {
                let _ = write!(
                    m,
                    "\n\n**Once this PR has been reviewed and has the lgtm label**, {ask}"
                );
            }
        }
        m.push_str("\n\n");
        match self.issue {
            IssueLine::NotRequired => {}
            IssueLine::Associated(n) => {
                let _ = write!(m, "Associated issue: *#{n}*\n\n");
            }
            IssueLine::Bypassed => {
                let _ = write!(
                    m,
                    "Associated issue requirement bypassed by: {}\n\n",
                    approval_list(self.approvals, self.pr_url, true)
                );
            }
            IssueLine::ManualBypass => {
                m.push_str(
                    "*No associated issue*. Requirement bypassed by manually added approval.\n\n",
                );
            }
            IssueLine::Missing => {
                let verb = self.verb();
                let _ = write!(
                    m,
                    "*No associated issue*. Update pull-request body to add a reference to an issue, or get approval with `{verb} no-issue`\n\n"
                );
            }
        }
        let _ = write!(
            m,
            "The full list of commands accepted by this bot can be found [here]({}?repo={}).\n\n",
            self.help_url, self.repo_param
        );
        if self.files_approved || self.manual {
            let _ = writeln!(
                m,
                "The pull request process is described [here]({})",
                self.pr_process_link
            );
        }
        let open = if !self.files_approved && !self.manual {
            "open"
        } else {
            ""
        };
        let _ = write!(
            m,
            "\n<details {open}>\nNeeds approval from an approver in each of these files:\n\n"
        );
        for (key, approvers, partial) in &self.files {
            let (path, url) = self.links.owners_file(key, self.branch);
            if !approvers.is_empty() && !partial {
                let _ = writeln!(m, "- ~~[{path}]({url})~~ [{}]", approvers.join(","));
            } else if *partial {
                let _ = writeln!(
                    m,
                    "- **[{path}]({url})** [partial]\n  > Need more approvers for rest parts."
                );
            } else {
                let _ = writeln!(m, "- **[{path}]({url})**");
            }
        }
        let verb = self.verb();
        let _ = write!(
            m,
            "\nApprovers can indicate their approval by writing `{verb}` in a comment{}\nApprovers can cancel approval by writing `{verb} cancel` in a comment\n</details>\n",
            if self.forge == ForgeKind::GitLab {
                " or by approving the merge request"
            } else {
                ""
            }
        );
        let metas = serde_json::to_string(&self.all_ccs).unwrap_or_else(|_| "[]".into());
        let _ = write!(m, "<!-- META={{\"approvers\":{metas}}} -->");
        m
    }

    fn verb(&self) -> &'static str {
        match self.forge {
            ForgeKind::GitHub => "/approve",
            ForgeKind::GitLab => "/bosun-approve",
        }
    }
}
