//! Loading OWNERS through the forge API instead of a clone: the tree once per base SHA, then
//! only the OWNERS blobs on the changed paths' ancestry, each parsed once per blob SHA.
//!
//! Two cache levels: a small in-process map of (repo, base SHA) → what was loaded, which makes
//! a second event at the same base free; and an [`OwnersCache`] (the store's `owners_cache`
//! table in bosun) holding tree listings and parsed files, shared by replicas and restarts, so
//! a new base SHA costs one tree call plus the OWNERS files that really changed.

use super::parse::{
    OwnersFile, OwnersProblem, parse_aliases, parse_markdown_front_matter, parse_owners,
};
use super::resolve::{Aliases, CompiledOwners, RepoOwners, owners_key, parent_dir};
use crate::event::RepoPath;
use crate::forge::{ForgeError, ForgeRead, TreeEntryKind};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The OWNERS file name.
pub const OWNERS_FILE: &str = "OWNERS";
/// The aliases file name (repository root only).
pub const ALIASES_FILE: &str = "OWNERS_ALIASES";

/// Prow's preconfigured directory denylist (`owners_dir_denylist` defaults), matched unanchored
/// against a directory's path relative to the root: OWNERS in such a directory, or anywhere
/// below it, are never read.
pub const DIR_DENYLIST: [&str; 3] = [r"\.git$", r"_output$", r"vendor/.*/.*"];

static DENIED: std::sync::LazyLock<Vec<regex::Regex>> = std::sync::LazyLock::new(|| {
    DIR_DENYLIST
        .iter()
        .filter_map(|r| regex::Regex::new(r).ok())
        .collect()
});

/// True when `dir` is a denied directory itself (the CLI's walk stops there).
pub fn is_denied_dir(dir: &str) -> bool {
    DENIED.iter().any(|re| re.is_match(dir))
}

/// True when `dir` or one of its ancestors is denied.
pub fn under_denied_dir(dir: &str) -> bool {
    let mut d = dir;
    while !d.is_empty() {
        if is_denied_dir(d) {
            return true;
        }
        d = parent_dir(d);
    }
    false
}

/// A durable key-value cache for tree listings and parsed OWNERS files. Failures are the
/// cache's own business: a miss only costs API calls.
#[async_trait]
pub trait OwnersCache: Send + Sync {
    /// The value stored under `key`, if any.
    async fn get(&self, key: &str) -> Option<Vec<u8>>;
    /// Stores a value; values under one key never change, so writers may race.
    async fn put(&self, key: &str, value: &[u8]);
}

/// A cache that keeps nothing beyond the process (tests, `bosun owners`).
#[derive(Default)]
pub struct MemoryOwnersCache(Mutex<HashMap<String, Vec<u8>>>);

#[async_trait]
impl OwnersCache for MemoryOwnersCache {
    async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }
    async fn put(&self, key: &str, value: &[u8]) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_string(), value.to_vec());
    }
}

/// Where the OWNERS-relevant files of one commit are: derived from one tree listing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnersIndex {
    /// OWNERS key (directory) → blob SHA of its OWNERS file.
    pub owners: BTreeMap<String, String>,
    /// The root OWNERS_ALIASES blob SHA.
    pub aliases: Option<String>,
    /// Markdown file path → blob SHA (only kept when front matter is read).
    pub markdown: BTreeMap<String, String>,
    /// The forge cut the listing short; OWNERS beyond it are unseen.
    pub truncated: bool,
}

/// A cached parse result: the file, or why it could not be used.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Parsed<T> {
    Ok(T),
    Problem(String),
}

/// What has been loaded for one (repo, base SHA).
#[derive(Default)]
struct Loaded {
    index: OwnersIndex,
    aliases: Option<Aliases>,
    /// OWNERS key → the file compiled against the aliases (`None`: unusable, see problems).
    files: BTreeMap<String, Option<CompiledOwners>>,
    problems: BTreeMap<String, String>,
}

/// Counts of forge calls, for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub tree_calls: usize,
    pub blob_calls: usize,
}

/// How many (repo, base SHA) views stay in memory.
const MEMORY_ENTRIES: usize = 64;

/// How OWNERS are read, per org or repo: Prow's `owners` block (`mdyamlrepos`,
/// `skip_collaborators`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnersPolicy {
    /// `.md` files carry OWNERS front matter everywhere.
    pub markdown_front_matter: bool,
    /// Orgs or repos where `.md` front matter is read (Prow's `mdyamlrepos`).
    pub markdown_front_matter_repos: Vec<String>,
    /// Orgs or repos where OWNERS, not repository collaborators, decide who may `/lgtm`
    /// (Prow's `skip_collaborators`).
    pub skip_collaborators: Vec<String>,
}

impl OwnersPolicy {
    /// Whether `.md` front matter owns files in `repo`.
    pub fn markdown_front_matter(&self, repo: &RepoPath) -> bool {
        self.markdown_front_matter || names(&self.markdown_front_matter_repos, repo)
    }

    /// Whether OWNERS, not collaborators, decide who may `/lgtm` in `repo`.
    pub fn skip_collaborators(&self, repo: &RepoPath) -> bool {
        names(&self.skip_collaborators, repo)
    }
}

/// Whether a list of orgs and repos names `repo` or one of its orgs/groups.
fn names(scopes: &[String], repo: &RepoPath) -> bool {
    repo.scopes()
        .iter()
        .any(|s| scopes.iter().any(|x| x.trim_matches('/') == *s))
}

/// Loads OWNERS for changes; one per process, shared by every plugin and delivery.
pub struct OwnersLoader {
    cache: Arc<dyn OwnersCache>,
    policy: OwnersPolicy,
    memory: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Loaded>>>>,
    stats: Mutex<LoadStats>,
}

impl OwnersLoader {
    /// A loader over a durable cache. With `markdown_front_matter`, `.md` files may carry their
    /// own OWNERS front matter (Prow's opt-in md-yaml).
    pub fn new(cache: Arc<dyn OwnersCache>, markdown_front_matter: bool) -> OwnersLoader {
        OwnersLoader::with_policy(
            cache,
            OwnersPolicy {
                markdown_front_matter,
                ..OwnersPolicy::default()
            },
        )
    }

    /// A loader over a durable cache that reads OWNERS per org/repo as `policy` says.
    pub fn with_policy(cache: Arc<dyn OwnersCache>, policy: OwnersPolicy) -> OwnersLoader {
        OwnersLoader {
            cache,
            policy,
            memory: Mutex::new(HashMap::new()),
            stats: Mutex::new(LoadStats::default()),
        }
    }

    /// A loader that caches in memory only.
    pub fn in_memory() -> OwnersLoader {
        OwnersLoader::new(Arc::new(MemoryOwnersCache::default()), false)
    }

    /// How OWNERS are read per org/repo.
    pub fn policy(&self) -> &OwnersPolicy {
        &self.policy
    }

    /// Forge calls made so far.
    pub fn stats(&self) -> LoadStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut LoadStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// The OWNERS that decide about `paths` at commit `base_sha` of `repo`.
    pub async fn owners_for(
        &self,
        forge: &dyn ForgeRead,
        repo: &RepoPath,
        base_sha: &str,
        paths: &[String],
    ) -> Result<RepoOwners, ForgeError> {
        let slot = self.slot(forge, repo, base_sha).await?;
        let mut loaded = slot.lock().await;
        let mut needed = BTreeSet::new();
        // Each directory is walked up once: thousands of files share a few hundred.
        let mut walked: HashSet<&str> = HashSet::new();
        for path in paths {
            let path = path.trim_matches('/');
            if !loaded.index.markdown.is_empty() && loaded.index.markdown.contains_key(path) {
                needed.insert(path.to_string());
            }
            let mut dir = parent_dir(path);
            while walked.insert(dir) {
                if loaded.index.owners.contains_key(dir) {
                    needed.insert(dir.to_string());
                }
                if dir.is_empty() {
                    break;
                }
                dir = parent_dir(dir);
            }
        }
        if loaded.aliases.is_none() {
            let aliases = match loaded.index.aliases.clone() {
                None => None,
                Some(sha) => {
                    match self
                        .blob(forge, repo, base_sha, ALIASES_FILE, &sha, "aliases", |t| {
                            parse_aliases(t)
                        })
                        .await?
                    {
                        Parsed::Ok(a) => Some(a),
                        Parsed::Problem(reason) => {
                            loaded.problems.insert(ALIASES_FILE.to_string(), reason);
                            None
                        }
                    }
                }
            };
            loaded.aliases = Some(Aliases::new(aliases.as_ref()));
        }
        let missing: Vec<String> = needed
            .iter()
            .filter(|k| !loaded.files.contains_key(*k))
            .cloned()
            .collect();
        for key in missing {
            let (path, sha, markdown) = match loaded.index.owners.get(&key) {
                Some(sha) if !loaded.index.markdown.contains_key(&key) => {
                    let path = if key.is_empty() {
                        OWNERS_FILE.to_string()
                    } else {
                        format!("{key}/{OWNERS_FILE}")
                    };
                    (path, sha.clone(), false)
                }
                _ => match loaded.index.markdown.get(&key) {
                    Some(sha) => (key.clone(), sha.clone(), true),
                    None => continue,
                },
            };
            let parsed = if markdown {
                self.blob(forge, repo, base_sha, &path, &sha, "md", |t| {
                    parse_markdown_front_matter(t).unwrap_or_else(|| Ok(OwnersFile::default()))
                })
                .await?
            } else {
                self.blob(forge, repo, base_sha, &path, &sha, "owners", parse_owners)
                    .await?
            };
            let aliases = loaded.aliases.clone().unwrap_or_default();
            let file = match parsed {
                Parsed::Ok(f) => Some(CompiledOwners::new(&aliases, &f)),
                Parsed::Problem(reason) => {
                    loaded.problems.insert(path, reason);
                    None
                }
            };
            loaded.files.insert(key, file);
        }
        let mut owners = RepoOwners::from_compiled(
            needed
                .iter()
                .filter_map(|k| Some((k.clone(), loaded.files.get(k)?.clone()?))),
        );
        owners.problems = loaded
            .problems
            .iter()
            .map(|(path, reason)| OwnersProblem {
                path: path.clone(),
                reason: reason.clone(),
            })
            .collect();
        if loaded.index.truncated {
            owners.problems.push(OwnersProblem {
                path: String::new(),
                reason: "the forge truncated the tree listing; OWNERS files beyond it are not seen"
                    .into(),
            });
        }
        Ok(owners)
    }

    /// The in-memory view for (repo, base SHA), built from the cache or one tree call.
    async fn slot(
        &self,
        forge: &dyn ForgeRead,
        repo: &RepoPath,
        base_sha: &str,
    ) -> Result<Arc<tokio::sync::Mutex<Loaded>>, ForgeError> {
        let markdown = self.policy.markdown_front_matter(repo);
        let key = format!("tree:{}@{base_sha}:{markdown}", repo.as_str());
        if let Some(slot) = self
            .memory
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(slot.clone());
        }
        let index = match self
            .cache
            .get(&key)
            .await
            .and_then(|bytes| serde_json::from_slice::<OwnersIndex>(&bytes).ok())
        {
            Some(index) => index,
            None => {
                self.count(|s| s.tree_calls += 1);
                let tree = forge.tree(repo, base_sha).await?;
                let index = Self::index_of(&tree, markdown);
                if let Ok(bytes) = serde_json::to_vec(&index) {
                    self.cache.put(&key, &bytes).await;
                }
                index
            }
        };
        let slot = Arc::new(tokio::sync::Mutex::new(Loaded {
            index,
            ..Loaded::default()
        }));
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        if memory.len() >= MEMORY_ENTRIES
            && let Some(evict) = memory.keys().next().cloned()
        {
            memory.remove(&evict);
        }
        Ok(memory.entry(key).or_insert(slot).clone())
    }

    fn index_of(tree: &crate::forge::Tree, markdown_front_matter: bool) -> OwnersIndex {
        let mut index = OwnersIndex {
            truncated: tree.truncated,
            ..OwnersIndex::default()
        };
        for entry in tree
            .entries
            .iter()
            .filter(|e| e.kind == TreeEntryKind::Blob)
        {
            let path = entry.path.trim_matches('/');
            let name = path.rsplit('/').next().unwrap_or(path);
            let owners_like =
                name == OWNERS_FILE || (markdown_front_matter && name.ends_with(".md"));
            if owners_like && under_denied_dir(parent_dir(path)) {
                continue;
            }
            if name == OWNERS_FILE {
                index
                    .owners
                    .insert(owners_key(path).to_string(), entry.sha.clone());
            } else if path == ALIASES_FILE {
                index.aliases = Some(entry.sha.clone());
            } else if markdown_front_matter && name.ends_with(".md") {
                index.markdown.insert(path.to_string(), entry.sha.clone());
            }
        }
        index
    }

    /// One parsed file by blob SHA: from the cache, or fetched and parsed once.
    #[allow(clippy::too_many_arguments)]
    async fn blob<T, F>(
        &self,
        forge: &dyn ForgeRead,
        repo: &RepoPath,
        base_sha: &str,
        path: &str,
        sha: &str,
        kind: &str,
        parse: F,
    ) -> Result<Parsed<T>, ForgeError>
    where
        T: Serialize + serde::de::DeserializeOwned,
        F: FnOnce(&str) -> Result<T, String>,
    {
        let key = format!("blob:{kind}:{sha}");
        if let Some(parsed) = self
            .cache
            .get(&key)
            .await
            .and_then(|bytes| serde_json::from_slice::<Parsed<T>>(&bytes).ok())
        {
            return Ok(parsed);
        }
        self.count(|s| s.blob_calls += 1);
        let parsed = match forge.file_content(repo, path, base_sha).await? {
            None => Parsed::Problem("listed in the tree but not found".into()),
            Some(bytes) => match std::str::from_utf8(&bytes) {
                Err(_) => Parsed::Problem("not UTF-8".into()),
                Ok(text) => match parse(text) {
                    Ok(v) => Parsed::Ok(v),
                    Err(reason) => Parsed::Problem(reason),
                },
            },
        };
        if let Ok(bytes) = serde_json::to_vec(&parsed) {
            self.cache.put(&key, &bytes).await;
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MemoryForge;

    fn repo() -> RepoPath {
        RepoPath::parse("org/repo").unwrap()
    }

    fn forge() -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            s.files
                .insert("OWNERS".into(), b"approvers: [root]\n".to_vec());
            s.files
                .insert("a/OWNERS".into(), b"approvers: [lead]\n".to_vec());
            s.files
                .insert("a/b/OWNERS".into(), b"reviewers: [rev]\n".to_vec());
            s.files
                .insert("c/OWNERS".into(), b"approvers: [c]\n".to_vec());
            s.files
                .insert("bad/OWNERS".into(), b"approvers: [x\n".to_vec());
            s.files.insert(
                "OWNERS_ALIASES".into(),
                b"aliases:\n  leads: [one, two]\n".to_vec(),
            );
        });
        forge
    }

    fn paths(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn fetches_only_the_ancestry_and_nothing_again_at_the_same_base() {
        let forge = forge();
        let loader = OwnersLoader::in_memory();
        let owners = loader
            .owners_for(&forge, &repo(), "base1", &paths(&["a/b/x.go"]))
            .await
            .unwrap();
        assert_eq!(
            owners.approvers("a/b/x.go"),
            ["lead", "root"].map(String::from).into()
        );
        // Tree + aliases + OWNERS, a/OWNERS, a/b/OWNERS; not c/ or bad/.
        assert_eq!(
            loader.stats(),
            LoadStats {
                tree_calls: 1,
                blob_calls: 4
            }
        );
        loader
            .owners_for(&forge, &repo(), "base1", &paths(&["a/b/y.go", "a/z"]))
            .await
            .unwrap();
        assert_eq!(
            loader.stats(),
            LoadStats {
                tree_calls: 1,
                blob_calls: 4
            }
        );
    }

    #[tokio::test]
    async fn a_durable_cache_shares_trees_and_parsed_blobs_between_loaders() {
        let forge = forge();
        let cache: Arc<dyn OwnersCache> = Arc::new(MemoryOwnersCache::default());
        let first = OwnersLoader::new(cache.clone(), false);
        first
            .owners_for(&forge, &repo(), "base1", &paths(&["a/x"]))
            .await
            .unwrap();
        // Another replica, same base: nothing from the forge.
        let second = OwnersLoader::new(cache.clone(), false);
        second
            .owners_for(&forge, &repo(), "base1", &paths(&["a/x"]))
            .await
            .unwrap();
        assert_eq!(second.stats(), LoadStats::default());
        // A new base where one OWNERS changed: one tree call, one blob call.
        forge.with(|s| {
            s.files
                .insert("a/OWNERS".into(), b"approvers: [new-lead]\n".to_vec());
        });
        let owners = second
            .owners_for(&forge, &repo(), "base2", &paths(&["a/x"]))
            .await
            .unwrap();
        assert_eq!(
            second.stats(),
            LoadStats {
                tree_calls: 1,
                blob_calls: 1
            }
        );
        assert!(owners.approvers("a/x").contains("new-lead"));
    }

    #[tokio::test]
    async fn owners_in_denied_directories_are_never_read() {
        let forge = forge();
        forge.with(|s| {
            for dir in ["vendor/x/y", "build/_output", "build/_output/deeper"] {
                s.files
                    .insert(format!("{dir}/OWNERS"), b"approvers: [never]\n".to_vec());
            }
            s.files
                .insert("vendor/OWNERS".into(), b"approvers: [vendorer]\n".to_vec());
        });
        let loader = OwnersLoader::in_memory();
        let files = paths(&["vendor/x/y/z.go", "build/_output/deeper/f", "vendor/a.go"]);
        let owners = loader
            .owners_for(&forge, &repo(), "b", &files)
            .await
            .unwrap();
        assert_eq!(
            owners.approvers("vendor/x/y/z.go"),
            ["root", "vendorer"].map(String::from).into()
        );
        assert_eq!(
            owners.approvers("build/_output/deeper/f"),
            ["root".to_string()].into()
        );
        assert!(owners.approvers("vendor/a.go").contains("vendorer"));
    }

    #[tokio::test]
    async fn markdown_front_matter_owns_its_file_only_when_enabled() {
        let forge = forge();
        forge.with(|s| {
            s.files.insert(
                "docs/guide.md".into(),
                b"---\napprovers: [writer]\n---\n# Guide\n".to_vec(),
            );
        });
        let files = paths(&["docs/guide.md"]);
        let on = OwnersLoader::new(Arc::new(MemoryOwnersCache::default()), true);
        let owners = on.owners_for(&forge, &repo(), "b", &files).await.unwrap();
        assert_eq!(
            owners.leaf_approvers("docs/guide.md"),
            ["writer".to_string()].into()
        );
        let off = OwnersLoader::in_memory();
        let owners = off.owners_for(&forge, &repo(), "b", &files).await.unwrap();
        assert_eq!(
            owners.leaf_approvers("docs/guide.md"),
            ["root".to_string()].into()
        );
    }

    /// Prow's `owners.mdyamlrepos` is per org/repo: front matter counts only where listed.
    #[tokio::test]
    async fn markdown_front_matter_can_be_enabled_per_org_or_repo() {
        let forge = forge();
        forge.with(|s| {
            s.files.insert(
                "docs/guide.md".into(),
                b"---\napprovers: [writer]\n---\n# Guide\n".to_vec(),
            );
        });
        let files = paths(&["docs/guide.md"]);
        for (listed, expected) in [
            (repo().as_str().to_string(), "writer"),
            ("org".to_string(), "writer"),
            ("someone/else".to_string(), "root"),
        ] {
            let policy = OwnersPolicy {
                markdown_front_matter_repos: vec![listed.clone()],
                ..OwnersPolicy::default()
            };
            let loader = OwnersLoader::with_policy(Arc::new(MemoryOwnersCache::default()), policy);
            let owners = loader
                .owners_for(&forge, &repo(), "b", &files)
                .await
                .unwrap();
            assert_eq!(
                owners.leaf_approvers("docs/guide.md"),
                [expected.to_string()].into(),
                "{listed}"
            );
        }
    }

    #[tokio::test]
    async fn a_malformed_file_is_reported_and_the_rest_still_resolves() {
        let forge = forge();
        let loader = OwnersLoader::in_memory();
        let owners = loader
            .owners_for(&forge, &repo(), "base1", &paths(&["bad/x", "c/y"]))
            .await
            .unwrap();
        assert_eq!(owners.problems.len(), 1, "{:?}", owners.problems);
        assert_eq!(owners.problems[0].path, "bad/OWNERS");
        assert_eq!(owners.approvers("bad/x"), ["root".to_string()].into());
        assert_eq!(
            owners.approvers("c/y"),
            ["c", "root"].map(String::from).into()
        );
    }
}

/// Calls per base SHA as the OWNERS CLI benchmark relies on them.
#[cfg(test)]
mod call_counts {
    use super::*;
    use crate::testing::MemoryForge;

    fn forge() -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            for (path, text) in [
                ("OWNERS", "approvers: [root]\n"),
                ("OWNERS_ALIASES", "aliases:\n  team: [Alice, bob]\n"),
                ("a/OWNERS", "approvers: [team]\n"),
                ("a/b/OWNERS", "reviewers: [rev]\n"),
                ("c/OWNERS", "approvers: [carl]\n"),
                ("d/OWNERS", "approvers: [: broken\n"),
                ("a/b/x.go", "code"),
            ] {
                s.files.insert(path.to_string(), text.as_bytes().to_vec());
            }
        });
        forge
    }

    fn paths(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn one_tree_then_only_the_blobs_on_the_ancestry_each_once() {
        let forge = forge();
        let repo = RepoPath::parse("o/r").unwrap();
        let loader = OwnersLoader::in_memory();
        let files = paths(&["a/b/x.go", "a/y.go", "a/b/z.go"]);
        let owners = loader
            .owners_for(&forge, &repo, "sha1", &files)
            .await
            .unwrap();
        // The tree, the aliases, and OWNERS at the root, a and a/b; not c or d.
        assert_eq!(
            loader.stats(),
            LoadStats {
                tree_calls: 1,
                blob_calls: 4
            }
        );
        assert_eq!(
            owners.approvers("a/b/x.go"),
            ["alice", "bob", "root"].map(String::from).into()
        );
        assert!(owners.problems.is_empty());

        let again = loader
            .owners_for(&forge, &repo, "sha1", &files)
            .await
            .unwrap();
        assert_eq!(loader.stats().tree_calls + loader.stats().blob_calls, 5);
        assert_eq!(again.approvers("a/y.go"), owners.approvers("a/y.go"));

        let other = loader
            .owners_for(&forge, &repo, "sha1", &paths(&["c/q", "d/r"]))
            .await
            .unwrap();
        assert_eq!(loader.stats().blob_calls, 6, "c and d only");
        assert_eq!(
            other.approvers("c/q"),
            ["carl", "root"].map(String::from).into()
        );
        assert_eq!(other.approvers("d/r"), ["root"].map(String::from).into());
        assert_eq!(other.problems.len(), 1);
        assert_eq!(other.problems[0].path, "d/OWNERS");

        // A new base SHA with the same blobs: one tree call, the parsed files are reused.
        loader
            .owners_for(&forge, &repo, "sha2", &files)
            .await
            .unwrap();
        assert_eq!(
            loader.stats(),
            LoadStats {
                tree_calls: 2,
                blob_calls: 6
            }
        );
    }
}
