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
        let bounds = [("s", t.s), ("m", t.m), ("l", t.l), ("xl", t.xl), ("xxl", t.xxl)];
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
    let configured =
        crate::pathglob::glob_set(&settings.generated).map_err(PluginError::Config)?;
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
        let files = cx.forge.changed_files(item).await?;
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
