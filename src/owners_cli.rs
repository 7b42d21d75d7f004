//! `bosun owners`: who owns these paths in a local checkout, which OWNERS files a PR touching
//! them must get approval from, and whom bosun would ask to review, answered by the same model
//! the `approve` and `blunderbuss` plugins use (reference/prow.md §3.2, §3.8, §4).
//!
//! The checkout is walked the way Prow walks its clone: every `OWNERS` outside the denied
//! directories, the root `OWNERS_ALIASES`, and (opt-in) Markdown front matter. A malformed file
//! is a warning naming the file and the reason; the rest of the tree still answers.

use anyhow::{Context as _, bail};
use bosun_plugins::owners::{
    AliasesFile, ApprovalCheck, Logins, OwnersFile, OwnersProblem, RepoOwners, ReviewerRequest,
    Role, choose_reviewers, normalize_login, parse_aliases, parse_markdown_front_matter,
    parse_owners,
};
use rand::SeedableRng as _;
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The OWNERS file name.
const OWNERS: &str = "OWNERS";
/// The aliases file name (root only).
const ALIASES: &str = "OWNERS_ALIASES";

/// Arguments of `bosun owners`.
#[derive(Debug, clap::Args)]
pub struct OwnersArgs {
    /// The repository checkout to read OWNERS files from.
    #[arg(long, default_value = ".")]
    pub repo_dir: PathBuf,
    /// The PR author: never requested as a reviewer, and (as in Prow by default) counted as an
    /// approver of the files they own.
    #[arg(long)]
    pub author: Option<String>,
    /// Seed for the random choices (Prow seeds suggestions with the PR number).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many reviewers to request at least (blunderbuss `request_count`).
    #[arg(long, default_value_t = 2)]
    pub request_count: usize,
    /// Read `.md` front matter as OWNERS for that file (Prow's opt-in md-yaml).
    #[arg(long)]
    pub markdown_front_matter: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// A file with one path per line (`-` for stdin), in addition to the paths given.
    #[arg(long)]
    pub paths_from: Option<PathBuf>,
    /// Paths relative to the repository root.
    pub paths: Vec<String>,
}

/// Every OWNERS file of a checkout, combined.
pub struct Checkout {
    /// The combined view over every usable file.
    pub owners: RepoOwners,
    /// Directories with an OWNERS file (`""` for the root).
    pub dirs: BTreeSet<String>,
    /// Markdown files with OWNERS front matter.
    pub markdown: BTreeSet<String>,
    /// Files that could not be used or were partly skipped, and why.
    pub problems: Vec<OwnersProblem>,
}

/// What to answer for a set of paths.
#[derive(Debug, Clone, Default)]
pub struct Question {
    /// The PR author, if any.
    pub author: Option<String>,
    /// Seed for suggested approvers and reviewer choice.
    pub seed: u64,
    /// Minimum reviewers requested.
    pub request_count: usize,
}

/// The owners of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathOwners {
    pub path: String,
    /// The OWNERS file whose approvers must approve this path (`null`: none has approvers).
    pub owners_file: Option<String>,
    pub approvers: Vec<String>,
    pub reviewers: Vec<String>,
    pub required_reviewers: Vec<String>,
    pub labels: Vec<String>,
}

/// The answer for the whole set of paths, as one PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnersReport {
    pub paths: Vec<PathOwners>,
    /// The OWNERS files that must approve (Prow's owners set), as file paths.
    pub approval_needed_from: Vec<String>,
    /// Those of them the author's own approval does not cover.
    pub unapproved: Vec<String>,
    /// Whom the approve plugin would suggest for the rest.
    pub suggested_approvers: Vec<String>,
    /// Whom blunderbuss would request, chosen first.
    pub reviewers: Vec<String>,
    /// Required reviewers, requested in addition.
    pub required_reviewers: Vec<String>,
    /// Problems with OWNERS files, also printed as warnings.
    pub problems: Vec<OwnersProblem>,
}

impl Checkout {
    /// The path of the OWNERS file behind a key, if the checkout has one there.
    pub fn owners_file_path(&self, key: &str) -> Option<String> {
        if self.markdown.contains(key) {
            Some(key.to_string())
        } else if !self.dirs.contains(key) {
            None
        } else if key.is_empty() {
            Some(OWNERS.to_string())
        } else {
            Some(format!("{key}/{OWNERS}"))
        }
    }
}

/// Reads every OWNERS file under `root` (never fails for a malformed file).
pub fn load_checkout(root: &Path, markdown_front_matter: bool) -> anyhow::Result<Checkout> {
    let meta = std::fs::metadata(root)
        .with_context(|| format!("--repo-dir {}: cannot read it", root.display()))?;
    if !meta.is_dir() {
        bail!("--repo-dir {}: not a directory", root.display());
    }
    let mut files: Vec<(String, OwnersFile)> = Vec::new();
    let mut markdown_keys = BTreeSet::new();
    let mut problems = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                problems.push(problem(&rel, format!("cannot list the directory: {e}")));
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    problems.push(problem(&rel, format!("cannot list the directory: {e}")));
                    continue;
                }
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            // Symlinks are not followed, as Go's filepath.Walk does not.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !bosun_plugins::owners::is_denied_dir(&path) {
                    stack.push((entry.path(), path));
                }
            } else if kind.is_file() {
                let parsed = if name == OWNERS {
                    Some((
                        rel.clone(),
                        read(&entry.path()).and_then(|t| parse_owners(&t)),
                    ))
                } else if markdown_front_matter && name.ends_with(".md") {
                    match read(&entry.path()) {
                        Err(e) => Some((path.clone(), Err(e))),
                        Ok(text) => parse_markdown_front_matter(&text).map(|r| {
                            markdown_keys.insert(path.clone());
                            (path.clone(), r)
                        }),
                    }
                } else {
                    None
                };
                match parsed {
                    Some((key, Ok(file))) => {
                        for w in &file.warnings {
                            problems.push(problem(&path, w.clone()));
                        }
                        files.push((key, file));
                    }
                    Some((_, Err(reason))) => problems.push(problem(&path, reason)),
                    None => {}
                }
            }
        }
    }
    let aliases = load_aliases(root, &mut problems);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    let dirs = files
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| !markdown_keys.contains(k))
        .collect();
    let mut owners = RepoOwners::new(aliases.as_ref(), files.iter().map(|(k, f)| (k.clone(), f)));
    owners.problems = problems.clone();
    Ok(Checkout {
        owners,
        dirs,
        markdown: markdown_keys,
        problems,
    })
}

/// The root OWNERS_ALIASES; as in Prow, an unreadable one means no aliases at all.
fn load_aliases(root: &Path, problems: &mut Vec<OwnersProblem>) -> Option<AliasesFile> {
    let path = root.join(ALIASES);
    if !path.is_file() {
        return None;
    }
    match read(&path).and_then(|t| parse_aliases(&t)) {
        Ok(a) => Some(a),
        Err(reason) => {
            problems.push(problem(
                ALIASES,
                format!("{reason} (no aliases are used, as in Prow)"),
            ));
            None
        }
    }
}

fn read(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())
}

fn problem(path: &str, reason: String) -> OwnersProblem {
    OwnersProblem {
        path: path.to_string(),
        reason,
    }
}

/// A path as given on the command line, relative to the root without `./` or slashes.
fn clean(path: &str) -> String {
    let mut p = path.trim();
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p.trim_matches('/').to_string()
}

fn sorted(set: impl IntoIterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = set.into_iter().collect();
    set.into_iter().collect()
}

/// Answers for `paths` as one PR: per path, then for the set.
pub fn answer(checkout: &Checkout, paths: &[String], question: &Question) -> OwnersReport {
    let owners = &checkout.owners;
    let paths: Vec<String> = paths.iter().map(|p| clean(p)).collect();
    let per_path = paths
        .iter()
        .map(|path| PathOwners {
            path: path.clone(),
            owners_file: checkout.owners_file_path(&owners.owners_for_file(path, Role::Approvers)),
            approvers: sorted(owners.approvers(path)),
            reviewers: sorted(owners.reviewers(path)),
            required_reviewers: sorted(owners.required_reviewers(path)),
            labels: sorted(owners.labels(path)),
        })
        .collect();
    let check = ApprovalCheck::new(owners, &paths);
    let author = question.author.as_deref().map(normalize_login);
    let current: Logins = author.iter().cloned().collect();
    let file_of = |key: &String| {
        checkout.owners_file_path(key).unwrap_or_else(|| {
            // The root with no OWNERS: nobody can approve (Prow: only a manual `approved`).
            format!("{OWNERS} (missing)")
        })
    };
    let suggested = check.suggest_approvers(&current, &Logins::new(), question.seed);
    let request = ReviewerRequest {
        author: author.unwrap_or_default(),
        min: question.request_count,
        ..ReviewerRequest::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(question.seed);
    let choice = choose_reviewers(owners, &paths, &request, &mut rng);
    OwnersReport {
        paths: per_path,
        approval_needed_from: check.owners_set().iter().map(file_of).collect(),
        unapproved: check.unapproved(&current).iter().map(file_of).collect(),
        suggested_approvers: sorted(suggested),
        reviewers: choice.reviewers,
        required_reviewers: choice.required,
        problems: checkout.problems.clone(),
    }
}

/// The paths named on the command line and in `--paths-from`.
fn collect_paths(args: &OwnersArgs) -> anyhow::Result<Vec<String>> {
    let mut paths: Vec<String> = args.paths.clone();
    if let Some(file) = &args.paths_from {
        let text = if file.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("--paths-from -: reading stdin")?;
            s
        } else {
            std::fs::read_to_string(file)
                .with_context(|| format!("--paths-from {}", file.display()))?
        };
        paths.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
    }
    paths.retain(|p| !clean(p).is_empty());
    if paths.is_empty() {
        bail!("no paths: name them as arguments or pass --paths-from FILE");
    }
    Ok(paths)
}

fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

/// The human-readable report.
pub fn render_text(report: &OwnersReport, question: &Question) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for p in &report.paths {
        let _ = writeln!(out, "{}", p.path);
        let _ = writeln!(
            out,
            "  owners file:        {}",
            p.owners_file.as_deref().unwrap_or("(none with approvers)")
        );
        let _ = writeln!(out, "  approvers:          {}", list(&p.approvers));
        let _ = writeln!(out, "  reviewers:          {}", list(&p.reviewers));
        let _ = writeln!(out, "  required reviewers: {}", list(&p.required_reviewers));
        let _ = writeln!(out, "  labels:             {}", list(&p.labels));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "A PR touching these {} path(s):", report.paths.len());
    let _ = writeln!(
        out,
        "  needs approval from an approver in each of ({}):",
        report.approval_needed_from.len()
    );
    for f in &report.approval_needed_from {
        let mark = if report.unapproved.contains(f) {
            ""
        } else {
            "   (approved by the author)"
        };
        let _ = writeln!(out, "    {f}{mark}");
    }
    let _ = writeln!(
        out,
        "  suggested approvers:          {}",
        list(&report.suggested_approvers)
    );
    let _ = writeln!(
        out,
        "  reviewers bosun would request: {} (request_count {}, seed {})",
        list(&report.reviewers),
        question.request_count,
        question.seed
    );
    if !report.required_reviewers.is_empty() {
        let _ = writeln!(
            out,
            "  and the required reviewers:    {}",
            list(&report.required_reviewers)
        );
    }
    out
}

/// Runs `bosun owners`.
pub fn run(args: OwnersArgs) -> anyhow::Result<()> {
    if args.request_count == 0 {
        bail!("--request-count must be at least 1");
    }
    let paths = collect_paths(&args)?;
    let checkout = load_checkout(&args.repo_dir, args.markdown_front_matter)?;
    for p in &checkout.problems {
        eprintln!("warning: {p}");
    }
    let question = Question {
        author: args.author.clone(),
        seed: args.seed,
        request_count: args.request_count,
    };
    let report = answer(&checkout, &paths, &question);
    let text = if args.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        render_text(&report, &question)
    };
    // A reader that stops early (`| head`) is not an error.
    use std::io::Write as _;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("writing the answer"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_lose_dot_slash_and_slashes() {
        assert_eq!(clean(" ./a/b.go "), "a/b.go");
        assert_eq!(clean("/a/"), "a");
        assert_eq!(clean("././x"), "x");
    }

    #[test]
    fn denied_directories_and_broken_files_are_skipped_with_a_warning() {
        let dir = std::env::temp_dir().join(format!("bosun-owners-cli-{}", std::process::id()));
        let write = |path: &str, text: &str| {
            let to = dir.join(path);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::write(to, text).unwrap();
        };
        write("OWNERS", "approvers: [Root]\n");
        write("a/OWNERS", "approvers: [alice]\nlabels: [area/a]\n");
        write("a/_output/OWNERS", "approvers: [never]\n");
        write("b/OWNERS", "approvers: [: broken\n");
        write("docs/x.md", "---\napprovers: [writer]\n---\n# x\n");
        let checkout = load_checkout(&dir, true);
        let _ = std::fs::remove_dir_all(&dir);
        let checkout = checkout.unwrap();
        assert_eq!(checkout.dirs, ["", "a"].map(String::from).into());
        assert_eq!(checkout.markdown, ["docs/x.md".to_string()].into());
        assert_eq!(checkout.problems.len(), 1);
        assert_eq!(checkout.problems[0].path, "b/OWNERS");
        let question = Question {
            author: Some("alice".into()),
            seed: 1,
            request_count: 1,
        };
        let paths = ["a/_output/f".to_string(), "b/c".into(), "docs/x.md".into()];
        let report = answer(&checkout, &paths, &question);
        assert_eq!(report.paths[0].approvers, vec!["alice", "root"]);
        assert_eq!(report.paths[0].labels, vec!["area/a"]);
        assert_eq!(report.paths[1].owners_file.as_deref(), Some("OWNERS"));
        assert_eq!(report.paths[2].owners_file.as_deref(), Some("docs/x.md"));
        // The root must approve b/c, and its approvers cover everything else (§4.5 step 2).
        assert_eq!(report.approval_needed_from, vec!["OWNERS"]);
        let without_root = answer(&checkout, &[paths[0].clone(), paths[2].clone()], &question);
        assert_eq!(
            without_root.approval_needed_from,
            vec!["a/OWNERS", "docs/x.md"]
        );
        assert_eq!(without_root.unapproved, vec!["docs/x.md"]);
        assert_eq!(without_root.suggested_approvers, vec!["writer"]);
        let report = without_root;
        let text = render_text(&report, &question);
        assert!(
            text.contains("a/OWNERS   (approved by the author)"),
            "{text}"
        );
    }
}
