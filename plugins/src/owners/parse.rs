//! Reading one `OWNERS`, `OWNERS_ALIASES` or Markdown front-matter file, as Prow reads them
//! (reference/prow.md §4.1). Parsing is per file and independent of everything else, so a parsed
//! file can be cached by its blob SHA; alias expansion and login normalization happen later,
//! when files are combined into a [`super::RepoOwners`].

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Options of one OWNERS file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnersOptions {
    /// Do not inherit approvers, reviewers or labels from parent directories.
    #[serde(default, deserialize_with = "null_as_default")]
    pub no_parent_owners: bool,
    /// Files in sub-folders without OWNERS of their own need no approval (prow.md §4.5).
    #[serde(default, deserialize_with = "null_as_default")]
    pub auto_approve_unowned_subfolders: bool,
}

/// The people and labels of one OWNERS section, as written (not yet alias-expanded).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnersRule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub approvers: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub reviewers: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub required_reviewers: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub labels: Vec<String>,
    /// Kept for display only: Prow gives emeritus approvers no rights.
    #[serde(default, deserialize_with = "null_as_default")]
    pub emeritus_approvers: Vec<String>,
}

impl OwnersRule {
    /// True when the section names anyone or any label that resolution uses.
    fn is_empty(&self) -> bool {
        self.approvers.is_empty()
            && self.reviewers.is_empty()
            && self.required_reviewers.is_empty()
            && self.labels.is_empty()
    }
}

/// One parsed OWNERS file: sections keyed by an optional filter regex (`None` applies to every
/// file below the directory, like the simple form and the `.*` filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnersFile {
    pub options: OwnersOptions,
    pub rules: Vec<(Option<String>, OwnersRule)>,
    /// Parts Prow skips without failing the file (invalid filter regexes), for `bosun owners`.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `OWNERS_ALIASES`: alias name → members, both as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasesFile {
    pub aliases: BTreeMap<String, Vec<String>>,
}

/// Why a file could not be used; the rest of the tree is unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct OwnersProblem {
    pub path: String,
    pub reason: String,
}

#[derive(Deserialize)]
struct SimpleForm {
    #[serde(default, deserialize_with = "null_as_default")]
    options: OwnersOptions,
    #[serde(default, deserialize_with = "null_as_default")]
    approvers: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    reviewers: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    required_reviewers: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    labels: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    emeritus_approvers: Vec<String>,
}

#[derive(Deserialize)]
struct FullForm {
    #[serde(default, deserialize_with = "null_as_default")]
    options: OwnersOptions,
    #[serde(default, deserialize_with = "null_as_default")]
    filters: BTreeMap<String, Option<OwnersRule>>,
}

/// YAML's `key:` with nothing after it is null; Prow (Go) reads that as the zero value.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The first line of a YAML error, without the source snippet: a one-line reason.
fn one_line(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid YAML")
        .to_string()
}

/// Parses an `OWNERS` file. Prow's order: the simple form first; the filters form only when
/// the simple form fails or names nobody (so top-level people make `filters` ignored).
pub fn parse_owners(text: &str) -> Result<OwnersFile, String> {
    let simple = serde_saphyr::from_str::<Option<SimpleForm>>(text);
    if let Ok(Some(s)) = &simple {
        let rule = OwnersRule {
            approvers: s.approvers.clone(),
            reviewers: s.reviewers.clone(),
            required_reviewers: s.required_reviewers.clone(),
            labels: s.labels.clone(),
            emeritus_approvers: s.emeritus_approvers.clone(),
        };
        if !rule.is_empty() {
            return Ok(OwnersFile {
                options: s.options.clone(),
                rules: vec![(None, rule)],
                warnings: Vec::new(),
            });
        }
    }
    match serde_saphyr::from_str::<Option<FullForm>>(text) {
        Ok(None) => Ok(OwnersFile::default()),
        Ok(Some(full)) => {
            let mut file = OwnersFile {
                options: full.options,
                ..OwnersFile::default()
            };
            for (pattern, rule) in full.filters {
                let rule = rule.unwrap_or_default();
                if pattern == ".*" {
                    file.rules.push((None, rule));
                } else if let Err(e) = regex::Regex::new(&pattern) {
                    let first = e.to_string();
                    let first = first.lines().last().unwrap_or("invalid").trim().to_string();
                    file.warnings
                        .push(format!("filter {pattern:?} skipped: {first}"));
                } else {
                    file.rules.push((Some(pattern), rule));
                }
            }
            Ok(file)
        }
        Err(full_error) => Err(match simple {
            Err(simple_error) => one_line(&simple_error),
            _ => one_line(&full_error),
        }),
    }
}

/// Parses the front matter of a Markdown file (`---\n<simple form>\n---`), which owns that one
/// file. `None` when the file has no front matter. Unlike Prow's greedy regex, the block ends
/// at the first closing `---`, so a later horizontal rule cannot break it.
pub fn parse_markdown_front_matter(text: &str) -> Option<Result<OwnersFile, String>> {
    let rest = text.strip_prefix("---\n")?;
    let end = if rest.starts_with("---") {
        0
    } else {
        rest.find("\n---")? + 1
    };
    let yaml = &rest[..end];
    Some(match serde_saphyr::from_str::<Option<SimpleForm>>(yaml) {
        Ok(None) => Ok(OwnersFile::default()),
        Ok(Some(s)) => Ok(OwnersFile {
            options: s.options,
            rules: vec![(
                None,
                OwnersRule {
                    approvers: s.approvers,
                    reviewers: s.reviewers,
                    required_reviewers: s.required_reviewers,
                    labels: s.labels,
                    emeritus_approvers: s.emeritus_approvers,
                },
            )],
            warnings: Vec::new(),
        }),
        Err(e) => Err(one_line(&e)),
    })
}

/// Parses `OWNERS_ALIASES`. A member list may be a sequence, a flow mapping (`{carl, dan}`:
/// the keys are the members) or null (an empty alias); anything else fails the whole file, as
/// in Prow, where the caller then uses no aliases at all.
pub fn parse_aliases(text: &str) -> Result<AliasesFile, String> {
    let value: serde_json::Value = match serde_saphyr::from_str::<Option<serde_json::Value>>(text) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(AliasesFile::default()),
        Err(e) => return Err(one_line(&e)),
    };
    let aliases = match value.get("aliases") {
        None | Some(serde_json::Value::Null) => return Ok(AliasesFile::default()),
        Some(serde_json::Value::Object(map)) => map,
        Some(_) => return Err("`aliases` must be a mapping of alias name to members".into()),
    };
    let mut out = AliasesFile::default();
    for (name, members) in aliases {
        let list = match members {
            serde_json::Value::Null => Vec::new(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|m| {
                    m.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("alias {name:?}: member {m} is not a string"))
                })
                .collect::<Result<Vec<_>, _>>()?,
            serde_json::Value::Object(set) => set.keys().cloned().collect(),
            other => {
                return Err(format!(
                    "alias {name:?}: members must be a list, got {}",
                    kind_of(other)
                ));
            }
        };
        out.aliases.insert(name.clone(), list);
    }
    Ok(out)
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::Bool(_) => "a boolean",
        _ => "something else",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_form_with_options_and_every_section() {
        let f = parse_owners(
            "options:\n  no_parent_owners: true\napprovers: [alice, \"@Bob\"]\nreviewers:\n- carol\nrequired_reviewers: [dave]\nlabels: [sig/foo]\nemeritus_approvers: [eve]\nunknown_key: 1\n",
        )
        .unwrap();
        assert!(f.options.no_parent_owners);
        assert_eq!(f.rules.len(), 1);
        let (filter, rule) = &f.rules[0];
        assert_eq!(filter, &None);
        assert_eq!(rule.approvers, vec!["alice", "@Bob"]);
        assert_eq!(rule.reviewers, vec!["carol"]);
        assert_eq!(rule.required_reviewers, vec!["dave"]);
        assert_eq!(rule.labels, vec!["sig/foo"]);
        assert_eq!(rule.emeritus_approvers, vec!["eve"]);
    }

    #[test]
    fn filters_form_with_the_dot_star_key_as_unfiltered() {
        let f = parse_owners(
            "filters:\n  \".*\":\n    approvers: [alice]\n  \"\\\\.go$\":\n    labels: [lang/go]\n  \"[bad\":\n    approvers: [x]\n",
        )
        .unwrap();
        assert!(f.rules.contains(&(
            None,
            OwnersRule {
                approvers: vec!["alice".into()],
                ..Default::default()
            }
        )));
        assert!(f.rules.iter().any(
            |(p, r)| p.as_deref() == Some("\\.go$") && r.labels == vec!["lang/go".to_string()]
        ));
        assert_eq!(f.rules.len(), 2, "the invalid regex is skipped");
        assert_eq!(f.warnings.len(), 1);
        assert!(f.warnings[0].contains("[bad"));
    }

    #[test]
    fn top_level_people_make_filters_ignored() {
        let f = parse_owners("approvers: [alice]\nfilters:\n  \".*\":\n    approvers: [bob]\n")
            .unwrap();
        assert_eq!(f.rules.len(), 1);
        assert_eq!(f.rules[0].1.approvers, vec!["alice"]);
    }

    #[test]
    fn a_simple_form_that_fails_falls_back_to_filters() {
        // `approvers` as a scalar breaks the simple form; the filters form ignores the key.
        let f =
            parse_owners("approvers: alice\nfilters:\n  \".*\":\n    approvers: [bob]\n").unwrap();
        assert_eq!(f.rules[0].1.approvers, vec!["bob"]);
    }

    #[test]
    fn empty_and_comment_only_files_own_nothing() {
        assert_eq!(parse_owners("").unwrap(), OwnersFile::default());
        assert_eq!(parse_owners("# nothing\n").unwrap(), OwnersFile::default());
        assert_eq!(parse_owners("approvers:\n").unwrap(), OwnersFile::default());
    }

    #[test]
    fn broken_yaml_is_one_line_reason() {
        let e = parse_owners("approvers:\n - a\n  - b\n: :\n").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        assert!(!e.is_empty());
        let e = parse_owners("filters: [1, 2]\n").unwrap_err();
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn markdown_front_matter_stops_at_the_first_closing_fence() {
        let f = parse_markdown_front_matter(
            "---\napprovers: [alice]\nlabels: [docs]\n---\n# Title\n\n---\nnot yaml: [\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(f.rules[0].1.approvers, vec!["alice"]);
        assert!(parse_markdown_front_matter("# no front matter\n").is_none());
        assert!(parse_markdown_front_matter("---\nunterminated: yes\n").is_none());
        assert!(
            parse_markdown_front_matter("---\napprovers: alice: x\n---\n")
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn aliases_accept_lists_flow_mappings_and_null() {
        let a = parse_aliases(
            "aliases:\n  leads:\n  - alice\n  - Bob\n  empty:\n  flow: {carl, dan}\n",
        )
        .unwrap();
        assert_eq!(a.aliases["leads"], vec!["alice", "Bob"]);
        assert!(a.aliases["empty"].is_empty());
        assert_eq!(a.aliases["flow"], vec!["carl", "dan"]);
    }

    #[test]
    fn aliases_reject_scalars_and_non_string_members() {
        assert!(
            parse_aliases("aliases:\n  leads: alice\n")
                .unwrap_err()
                .contains("leads")
        );
        assert!(
            parse_aliases("aliases:\n  leads: [alice, [x]]\n")
                .unwrap_err()
                .contains("not a string")
        );
    }
}
