//! Loading OWNERS through the forge API instead of a clone: the tree once per base SHA, then
//! only the OWNERS blobs on the changed paths' ancestry, each parsed once per blob SHA.
//!
//! Two cache levels: a small in-process map of (repo, base SHA) → what was loaded, which makes
//! a second event at the same base free; and an [`OwnersCache`] (the store's `owners_cache`
//! table in bosun) holding tree listings and parsed files, shared by replicas and restarts, so
//! a new base SHA costs one tree call plus the OWNERS files that really changed.
//!
//! A base moves on every merge, and listing a 100,000-path tree costs a second. So when the
//! loader already holds an index for an earlier base of the same repository and branch, it
//! asks the forge for the difference between the two commits (one compare call) and updates a
//! copy of that index by it: only the OWNERS, OWNERS_ALIASES (and, with front matter, `.md`)
//! files that changed are looked at, and every compiled OWNERS file whose blob did not change
//! is carried over. When the compare is incomplete (GitHub lists at most 300 files; a
//! diverged history), too large, or fails, the whole tree is listed as before.

use super::parse::{
    OwnersFile, OwnersProblem, parse_aliases, parse_markdown_front_matter, parse_owners,
};
use super::resolve::{Aliases, CompiledOwners, RepoOwners, owners_key, parent_dir};
use crate::event::RepoPath;
use crate::forge::{DiffStatus, ForgeError, ForgeRead, TreeEntryKind};
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

impl OwnersIndex {
    /// Records the blob at `path` if the index tracks such a file, by the same rules a full
    /// listing applies; returns whether it does.
    fn note(&mut self, path: &str, sha: &str, markdown_front_matter: bool) -> bool {
        let path = path.trim_matches('/');
        match tracked(path, markdown_front_matter) {
            Some(Tracked::Owners) => {
                self.owners
                    .insert(owners_key(path).to_string(), sha.to_string());
            }
            Some(Tracked::Aliases) => self.aliases = Some(sha.to_string()),
            Some(Tracked::Markdown) => {
                self.markdown.insert(path.to_string(), sha.to_string());
            }
            None => return false,
        }
        true
    }

    /// Drops whatever the index holds for `path` (a removed file, a rename's old path).
    fn forget(&mut self, path: &str) {
        let path = path.trim_matches('/');
        let name = path.rsplit('/').next().unwrap_or(path);
        if name == OWNERS_FILE {
            self.owners.remove(owners_key(path));
        } else if path == ALIASES_FILE {
            self.aliases = None;
        }
        self.markdown.remove(path);
    }

    /// The file behind an OWNERS key: its path, blob SHA, and whether it is Markdown front
    /// matter (a `.md` file owning itself) rather than an OWNERS file.
    fn file_of(&self, key: &str) -> Option<(String, String, bool)> {
        match self.owners.get(key) {
            Some(sha) if !self.markdown.contains_key(key) => {
                let path = if key.is_empty() {
                    OWNERS_FILE.to_string()
                } else {
                    format!("{key}/{OWNERS_FILE}")
                };
                Some((path, sha.clone(), false))
            }
            _ => self
                .markdown
                .get(key)
                .map(|sha| (key.to_string(), sha.clone(), true)),
        }
    }
}

/// The kinds of file an [`OwnersIndex`] tracks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracked {
    Owners,
    Aliases,
    Markdown,
}

/// What the index keeps of the blob at `path` (already trimmed), if anything: OWNERS files
/// outside denied directories, the root OWNERS_ALIASES, and `.md` files when front matter
/// is read.
fn tracked(path: &str, markdown_front_matter: bool) -> Option<Tracked> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let owners_like = name == OWNERS_FILE || (markdown_front_matter && name.ends_with(".md"));
    if owners_like && under_denied_dir(parent_dir(path)) {
        return None;
    }
    if name == OWNERS_FILE {
        Some(Tracked::Owners)
    } else if path == ALIASES_FILE {
        Some(Tracked::Aliases)
    } else if markdown_front_matter && name.ends_with(".md") {
        Some(Tracked::Markdown)
    } else {
        None
    }
}

/// What has been loaded for one (repo, base SHA).
#[derive(Default, Clone)]
struct Loaded {
    index: OwnersIndex,
    aliases: Option<Aliases>,
    /// OWNERS key → the file compiled against the aliases (`None`: unusable, see problems).
    files: BTreeMap<String, Option<CompiledOwners>>,
    problems: BTreeMap<String, String>,
}

impl Loaded {
    /// Takes over what `old` (an earlier base's view) compiled for files whose blob is the
    /// same here, so a moved base does not fetch, parse or compile them again. Nothing is
    /// taken when OWNERS_ALIASES changed: every file was compiled against the aliases.
    fn carry_from(&mut self, old: &Loaded) {
        if old.aliases.is_none() || old.index.aliases != self.index.aliases {
            return;
        }
        self.aliases = old.aliases.clone();
        if let Some(reason) = old.problems.get(ALIASES_FILE) {
            self.problems
                .insert(ALIASES_FILE.to_string(), reason.clone());
        }
        for (key, file) in &old.files {
            let Some((path, sha, markdown)) = old.index.file_of(key) else {
                continue;
            };
            if self.index.file_of(key) != Some((path.clone(), sha, markdown)) {
                continue;
            }
            if file.is_none()
                && let Some(reason) = old.problems.get(&path)
            {
                self.problems.insert(path, reason.clone());
            }
            self.files.insert(key.clone(), file.clone());
        }
    }
}

/// One (repo, base SHA) view, shared by the events at that base.
type Slot = Arc<tokio::sync::Mutex<Loaded>>;

/// Counts of forge calls, for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    pub tree_calls: usize,
    pub blob_calls: usize,
    /// Compare calls made to update an earlier base's index instead of listing the tree.
    pub compare_calls: usize,
}

/// How many (repo, base SHA) views stay in memory.
const MEMORY_ENTRIES: usize = 64;

/// How many tracked files a compare may add or change without naming their blob (GitLab's
/// compare does not) before one tree listing is cheaper than fetching each of them.
const MAX_UNNAMED_BLOBS: usize = 32;

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
    memory: Mutex<HashMap<String, Slot>>,
    /// (repo, branch, front matter) → the base SHA indexed last and its view: what a moved
    /// base is compared against.
    latest: Mutex<HashMap<String, (String, Slot)>>,
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
            latest: Mutex::new(HashMap::new()),
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

    /// The OWNERS that decide about `paths` at commit `base_sha` of `repo`, when the branch is
    /// not known: a moved base is compared with the last base of the repository seen without
    /// a branch (see [`OwnersLoader::owners_on_branch`]).
    pub async fn owners_for(
        &self,
        forge: &dyn ForgeRead,
        repo: &RepoPath,
        base_sha: &str,
        paths: &[String],
    ) -> Result<RepoOwners, ForgeError> {
        self.owners_on_branch(forge, repo, "", base_sha, paths)
            .await
    }

    /// The OWNERS that decide about `paths` at commit `base_sha` of `repo`'s branch `branch`
    /// (a PR's base). The branch names which earlier index a moved base is updated from, so
    /// PRs against `main` and a release branch do not compare across the two.
    pub async fn owners_on_branch(
        &self,
        forge: &dyn ForgeRead,
        repo: &RepoPath,
        branch: &str,
        base_sha: &str,
        paths: &[String],
    ) -> Result<RepoOwners, ForgeError> {
        let slot = self.slot(forge, repo, branch, base_sha).await?;
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
            let Some((path, sha, markdown)) = loaded.index.file_of(&key) else {
                continue;
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

    /// The in-memory view for (repo, base SHA): from memory, from the durable cache, by
    /// updating the branch's previous index with one compare call, or from one tree call.
    async fn slot(
        &self,
        forge: &dyn ForgeRead,
        repo: &RepoPath,
        branch: &str,
        base_sha: &str,
    ) -> Result<Slot, ForgeError> {
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
        let line = format!("{}|{branch}|{markdown}", repo.as_str());
        let latest = self
            .latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&line)
            .cloned();
        let previous = match latest {
            Some((sha, slot)) if sha != base_sha => Some((sha, slot.lock().await.clone())),
            _ => None,
        };
        let cached = self
            .cache
            .get(&key)
            .await
            .and_then(|bytes| serde_json::from_slice::<OwnersIndex>(&bytes).ok());
        let index = match cached {
            Some(index) => index,
            None => {
                let moved = match &previous {
                    Some((old_sha, old)) => {
                        let from = Base {
                            sha: old_sha,
                            index: &old.index,
                        };
                        self.index_by_compare(forge, repo, from, base_sha, markdown)
                            .await?
                    }
                    None => None,
                };
                let index = match moved {
                    Some(index) => index,
                    None => {
                        self.count(|s| s.tree_calls += 1);
                        let tree = forge.tree(repo, base_sha).await?;
                        Self::index_of(&tree, markdown)
                    }
                };
                if let Ok(bytes) = serde_json::to_vec(&index) {
                    self.cache.put(&key, &bytes).await;
                }
                index
            }
        };
        let mut loaded = Loaded {
            index,
            ..Loaded::default()
        };
        if let Some((_, old)) = &previous {
            loaded.carry_from(old);
        }
        let slot = Arc::new(tokio::sync::Mutex::new(loaded));
        let slot = {
            let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
            if memory.len() >= MEMORY_ENTRIES
                && let Some(evict) = memory.keys().next().cloned()
            {
                memory.remove(&evict);
            }
            memory.entry(key).or_insert(slot).clone()
        };
        let mut latest = self.latest.lock().unwrap_or_else(|e| e.into_inner());
        if latest.len() >= MEMORY_ENTRIES
            && !latest.contains_key(&line)
            && let Some(evict) = latest.keys().next().cloned()
        {
            latest.remove(&evict);
        }
        latest.insert(line, (base_sha.to_string(), slot.clone()));
        Ok(slot)
    }

    /// The index at `base_sha`, made from the index of an earlier base and one compare call;
    /// `None` when the compare cannot stand for the whole difference (incomplete, failed,
    /// too many files without a blob SHA), and the caller lists the tree instead.
    async fn index_by_compare(
        &self,
        forge: &dyn ForgeRead,
        repo: &RepoPath,
        from: Base<'_>,
        base_sha: &str,
        markdown: bool,
    ) -> Result<Option<OwnersIndex>, ForgeError> {
        if from.index.truncated {
            return Ok(None);
        }
        self.count(|s| s.compare_calls += 1);
        let diff = match forge.compare(repo, from.sha, base_sha).await {
            Ok(diff) if diff.complete => diff,
            Ok(diff) => {
                tracing::debug!(%repo, from = from.sha, to = base_sha, files = diff.files.len(),
                    "the compare is incomplete; listing the whole tree for OWNERS");
                return Ok(None);
            }
            Err(e) => {
                tracing::debug!(%repo, from = from.sha, to = base_sha,
                    "compare failed ({e}); listing the whole tree for OWNERS");
                return Ok(None);
            }
        };
        let mut index = from.index.clone();
        // Removals first: a path may be renamed away and another file added in its place.
        for f in &diff.files {
            match f.status {
                DiffStatus::Removed => index.forget(&f.path),
                DiffStatus::Renamed => {
                    if let Some(old) = &f.previous_path {
                        index.forget(old);
                    }
                }
                DiffStatus::Added | DiffStatus::Modified | DiffStatus::Copied => {}
            }
        }
        let mut unnamed = Vec::new();
        for f in diff
            .files
            .iter()
            .filter(|f| f.status != DiffStatus::Removed)
        {
            match &f.sha {
                Some(sha) => {
                    index.note(&f.path, sha, markdown);
                }
                None => {
                    let path = f.path.trim_matches('/');
                    if let Some(kind) = tracked(path, markdown) {
                        unnamed.push((path, kind));
                    }
                }
            }
        }
        if unnamed.len() > MAX_UNNAMED_BLOBS {
            return Ok(None);
        }
        for (path, kind) in unnamed {
            self.count(|s| s.blob_calls += 1);
            let Some(bytes) = forge.file_content(repo, path, base_sha).await? else {
                // The compare and the file disagree: trust neither.
                return Ok(None);
            };
            let sha = content_sha(&bytes);
            match kind {
                Tracked::Owners => self.remember(&sha, "owners", &bytes, parse_owners).await,
                Tracked::Aliases => self.remember(&sha, "aliases", &bytes, parse_aliases).await,
                Tracked::Markdown => {
                    self.remember(&sha, "md", &bytes, |t| {
                        parse_markdown_front_matter(t).unwrap_or_else(|| Ok(OwnersFile::default()))
                    })
                    .await
                }
            }
            index.note(path, &sha, markdown);
        }
        Ok(Some(index))
    }

    /// Parses a file fetched by content (its blob SHA unknown) into the blob cache under its
    /// content SHA, so the index can name it like any other blob.
    async fn remember<T, F>(&self, sha: &str, kind: &str, bytes: &[u8], parse: F)
    where
        T: Serialize,
        F: FnOnce(&str) -> Result<T, String>,
    {
        let parsed = parse_bytes(Some(bytes), parse);
        if let Ok(json) = serde_json::to_vec(&parsed) {
            self.cache.put(&format!("blob:{kind}:{sha}"), &json).await;
        }
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
            index.note(&entry.path, &entry.sha, markdown_front_matter);
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
        let bytes = forge.file_content(repo, path, base_sha).await?;
        let parsed = parse_bytes(bytes.as_deref(), parse);
        if let Ok(bytes) = serde_json::to_vec(&parsed) {
            self.cache.put(&key, &bytes).await;
        }
        Ok(parsed)
    }
}

/// An earlier base: its commit and the index built for it.
#[derive(Clone, Copy)]
struct Base<'a> {
    sha: &'a str,
    index: &'a OwnersIndex,
}

/// A file's bytes parsed, or why they cannot be used (`None`: listed but not there).
fn parse_bytes<T, F>(bytes: Option<&[u8]>, parse: F) -> Parsed<T>
where
    F: FnOnce(&str) -> Result<T, String>,
{
    match bytes {
        None => Parsed::Problem("listed in the tree but not found".into()),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Err(_) => Parsed::Problem("not UTF-8".into()),
            Ok(text) => match parse(text) {
                Ok(v) => Parsed::Ok(v),
                Err(reason) => Parsed::Problem(reason),
            },
        },
    }
}

/// A name for a blob known only by its content (GitLab's compare gives no blob SHA): a
/// SHA-256, prefixed so it can never equal a forge's blob SHA.
fn content_sha(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256-{hex}")
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
                blob_calls: 4,
                ..LoadStats::default()
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
                blob_calls: 4,
                ..LoadStats::default()
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
        // A new base where one OWNERS changed, which the forge cannot compare with the last
        // (the in-memory forge compares only commits it holds snapshots of): one failed
        // compare, then one tree call and one blob call.
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
                blob_calls: 1,
                compare_calls: 1,
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
                blob_calls: 4,
                ..LoadStats::default()
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

        // A new base SHA with the same blobs that cannot be compared with the last (no
        // snapshots here): one tree call, the parsed files are reused.
        loader
            .owners_for(&forge, &repo, "sha2", &files)
            .await
            .unwrap();
        assert_eq!(
            loader.stats(),
            LoadStats {
                tree_calls: 2,
                blob_calls: 6,
                compare_calls: 1,
            }
        );
    }
}

/// A moved base: the index is updated by one compare call and stays what a full listing
/// would give.
#[cfg(test)]
mod moving_base {
    use super::*;
    use crate::testing::MemoryForge;
    use rand::rngs::StdRng;
    use rand::{Rng as _, SeedableRng as _};

    type Files = BTreeMap<String, Vec<u8>>;

    fn repo() -> RepoPath {
        RepoPath::parse("org/repo").expect("repo")
    }

    fn files(v: &[(&str, &str)]) -> Files {
        v.iter()
            .map(|(p, t)| (p.to_string(), t.as_bytes().to_vec()))
            .collect()
    }

    fn base() -> Files {
        files(&[
            ("OWNERS", "approvers: [root]\n"),
            ("OWNERS_ALIASES", "aliases:\n  team: [alice, bob]\n"),
            ("a/OWNERS", "approvers: [team]\n"),
            ("a/b/OWNERS", "reviewers: [rev]\n"),
            ("a/b/x.go", "code"),
            ("c/OWNERS", "approvers: [carl]\n"),
            ("c/y.go", "code"),
        ])
    }

    fn forge_with(commits: &[(&str, &Files)]) -> MemoryForge {
        let forge = MemoryForge::default();
        forge.with(|s| {
            for (sha, files) in commits {
                s.commits.insert(sha.to_string(), (*files).clone());
            }
        });
        forge
    }

    fn paths(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn a_moved_base_costs_one_compare_and_the_changed_owners_file() {
        let one = base();
        let mut two = one.clone();
        two.insert("a/OWNERS".into(), b"approvers: [dora]\n".to_vec());
        two.insert("c/z.go".into(), b"more code".to_vec());
        let forge = forge_with(&[("c1", &one), ("c2", &two)]);
        let loader = OwnersLoader::in_memory();
        let files = paths(&["a/b/x.go", "c/y.go"]);
        loader
            .owners_on_branch(&forge, &repo(), "main", "c1", &files)
            .await
            .expect("c1");
        let before = loader.stats();
        let owners = loader
            .owners_on_branch(&forge, &repo(), "main", "c2", &files)
            .await
            .expect("c2");
        let after = loader.stats();
        assert_eq!(after.tree_calls - before.tree_calls, 0);
        assert_eq!(after.compare_calls - before.compare_calls, 1);
        assert_eq!(after.blob_calls - before.blob_calls, 1, "a/OWNERS only");
        assert_eq!(
            owners.approvers("a/b/x.go"),
            ["dora", "root"].map(String::from).into()
        );
        assert_eq!(
            owners.approvers("c/y.go"),
            ["carl", "root"].map(String::from).into()
        );
    }

    /// GitLab's compare names no blob SHA: changed OWNERS files are fetched while updating.
    #[tokio::test]
    async fn without_blob_shas_the_changed_files_are_fetched_once() {
        let one = base();
        let mut two = one.clone();
        two.insert(
            "OWNERS_ALIASES".into(),
            b"aliases:\n  team: [erin]\n".to_vec(),
        );
        let forge = forge_with(&[("c1", &one), ("c2", &two)]);
        forge.with(|s| s.compare_without_shas = true);
        let loader = OwnersLoader::in_memory();
        let files = paths(&["a/b/x.go"]);
        loader
            .owners_on_branch(&forge, &repo(), "main", "c1", &files)
            .await
            .expect("c1");
        let before = loader.stats();
        let owners = loader
            .owners_on_branch(&forge, &repo(), "main", "c2", &files)
            .await
            .expect("c2");
        let after = loader.stats();
        assert_eq!(after.tree_calls, before.tree_calls);
        // The aliases changed, so every file on the ancestry is compiled again, but only the
        // aliases file is fetched: the others are in the parse cache by blob SHA.
        assert_eq!(after.blob_calls - before.blob_calls, 1);
        assert_eq!(
            owners.approvers("a/b/x.go"),
            ["erin", "root"].map(String::from).into()
        );
    }

    #[tokio::test]
    async fn an_incomplete_or_failing_compare_falls_back_to_the_tree() {
        let one = base();
        let mut two = one.clone();
        two.remove("c/OWNERS");
        let forge = forge_with(&[("c1", &one), ("c2", &two)]);
        forge.with(|s| s.compare_incomplete = true);
        let loader = OwnersLoader::in_memory();
        let files = paths(&["c/y.go"]);
        for sha in ["c1", "c2", "unknown-to-compare"] {
            loader
                .owners_on_branch(&forge, &repo(), "main", sha, &files)
                .await
                .expect(sha);
        }
        assert_eq!(loader.stats().tree_calls, 3);
        assert_eq!(loader.stats().compare_calls, 2);
    }

    #[tokio::test]
    async fn branches_are_compared_with_their_own_previous_base() {
        let one = base();
        let mut two = one.clone();
        two.insert("c/OWNERS".into(), b"approvers: [cleo]\n".to_vec());
        let forge = forge_with(&[("c1", &one), ("c2", &two), ("r1", &one)]);
        let loader = OwnersLoader::in_memory();
        let files = paths(&["c/y.go"]);
        loader
            .owners_on_branch(&forge, &repo(), "main", "c1", &files)
            .await
            .expect("c1");
        loader
            .owners_on_branch(&forge, &repo(), "release", "r1", &files)
            .await
            .expect("r1");
        assert_eq!(loader.stats().tree_calls, 2, "a branch's first base lists");
        let owners = loader
            .owners_on_branch(&forge, &repo(), "main", "c2", &files)
            .await
            .expect("c2");
        assert_eq!(loader.stats().tree_calls, 2);
        assert_eq!(loader.stats().compare_calls, 1);
        assert!(owners.approvers("c/y.go").contains("cleo"));
    }

    // ---- random sequences of OWNERS changes: incremental == fresh ----

    const USERS: [&str; 6] = ["alice", "Bob", "@carol", "dave", "team-a", "team-b"];
    const DIRS: [&str; 10] = [
        "",
        "a",
        "a/b",
        "a/b/c",
        "d",
        "d/e",
        "vendor/x/y",
        "docs",
        "m",
        "m/n",
    ];

    fn some_users(rng: &mut StdRng) -> String {
        let n = rng.random_range(1..=3);
        let picked: Vec<&str> = (0..n)
            .map(|_| USERS[rng.random_range(0..USERS.len())])
            .collect();
        format!("[{}]", picked.join(", ").replace('@', ""))
    }

    fn owners_text(rng: &mut StdRng) -> String {
        match rng.random_range(0..6) {
            0 => format!("approvers: {}\n", some_users(rng)),
            1 => format!(
                "approvers: {}\nreviewers: {}\nlabels: [area/x{}]\n",
                some_users(rng),
                some_users(rng),
                rng.random_range(0..3)
            ),
            2 => format!(
                "options:\n  no_parent_owners: true\napprovers: {}\n",
                some_users(rng)
            ),
            3 => format!(
                "filters:\n  '\\.go$':\n    approvers: {}\n    labels: [lang/go]\n  '.*':\n    reviewers: {}\n",
                some_users(rng),
                some_users(rng)
            ),
            4 => format!(
                "reviewers: {}\nrequired_reviewers: [dave]\n",
                some_users(rng)
            ),
            _ => "approvers: [broken\n".to_string(),
        }
    }

    fn join(dir: &str, name: &str) -> String {
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    }

    fn initial(rng: &mut StdRng) -> Files {
        let mut files = Files::new();
        for (i, dir) in DIRS.iter().enumerate() {
            files.insert(join(dir, &format!("f{i}.go")), b"code".to_vec());
            files.insert(join(dir, "readme.txt"), b"text".to_vec());
            if i % 2 == 0 {
                files.insert(join(dir, "OWNERS"), owners_text(rng).into_bytes());
            }
        }
        files.insert(
            "OWNERS_ALIASES".into(),
            b"aliases:\n  team-a: [erin, frank]\n  team-b: [gina]\n".to_vec(),
        );
        files.insert(
            "docs/guide.md".into(),
            b"---\napprovers: [writer]\n---\n# Guide\n".to_vec(),
        );
        files
    }

    fn owners_paths(files: &Files) -> Vec<String> {
        files
            .keys()
            .filter(|p| p.as_str() == "OWNERS" || p.ends_with("/OWNERS"))
            .cloned()
            .collect()
    }

    /// One random change of the kinds a base sees: add, modify, delete or rename an OWNERS
    /// file, change OWNERS_ALIASES or front matter, move a directory.
    fn change(rng: &mut StdRng, files: &mut Files, step: usize) {
        let owners = owners_paths(files);
        let pick = |rng: &mut StdRng, v: &[String]| v[rng.random_range(0..v.len())].clone();
        match rng.random_range(0..8) {
            0 => {
                let dir = DIRS[rng.random_range(0..DIRS.len())];
                files.insert(join(dir, "OWNERS"), owners_text(rng).into_bytes());
            }
            1 | 2 if !owners.is_empty() => {
                let path = pick(rng, &owners);
                files.insert(path, owners_text(rng).into_bytes());
            }
            3 if !owners.is_empty() => {
                let path = pick(rng, &owners);
                files.remove(&path);
            }
            4 if !owners.is_empty() => {
                let from = pick(rng, &owners);
                let to = join(DIRS[rng.random_range(0..DIRS.len())], "OWNERS");
                if let Some(content) = files.remove(&from) {
                    files.insert(to, content);
                }
            }
            5 => match rng.random_range(0..4) {
                0 => {
                    files.remove("OWNERS_ALIASES");
                }
                1 => {
                    files.insert("OWNERS_ALIASES".into(), b"aliases: [nope\n".to_vec());
                }
                _ => {
                    let text = format!(
                        "aliases:\n  team-a: {}\n  team-b: [gina, step{step}]\n",
                        some_users(rng)
                    );
                    files.insert("OWNERS_ALIASES".into(), text.into_bytes());
                }
            },
            6 => {
                let text = format!("---\napprovers: {}\n---\n# Guide\n", some_users(rng));
                files.insert("docs/guide.md".into(), text.into_bytes());
            }
            _ => {
                // Move a directory (and everything below it) somewhere else.
                let from = DIRS[rng.random_range(1..DIRS.len())];
                let to = format!("moved{step}/{}", from.replace('/', "_"));
                let prefix = format!("{from}/");
                let moving: Vec<String> = files
                    .keys()
                    .filter(|p| p.starts_with(&prefix))
                    .cloned()
                    .collect();
                for path in moving {
                    if let Some(content) = files.remove(&path) {
                        files.insert(format!("{to}/{}", &path[prefix.len()..]), content);
                    }
                }
            }
        }
    }

    /// Every answer a decision reads, for every path (files, and new files in each directory).
    fn answers(owners: &RepoOwners, paths: &[String]) -> Vec<String> {
        let mut out: Vec<String> = paths
            .iter()
            .map(|p| {
                format!(
                    "{p}: a={:?} la={:?} r={:?} lr={:?} rr={:?} l={:?} o={}",
                    owners.approvers(p),
                    owners.leaf_approvers(p),
                    owners.reviewers(p),
                    owners.leaf_reviewers(p),
                    owners.required_reviewers(p),
                    owners.labels(p),
                    owners.owners_for_file(p, crate::owners::Role::Approvers),
                )
            })
            .collect();
        let mut problems: Vec<String> = owners.problems.iter().map(|p| p.to_string()).collect();
        problems.sort();
        out.extend(problems);
        out
    }

    fn query_paths(files: &Files) -> Vec<String> {
        let mut paths: Vec<String> = files.keys().cloned().collect();
        let dirs: BTreeSet<&str> = files.keys().map(|p| parent_dir(p)).collect();
        paths.extend(dirs.iter().map(|d| join(d, "new_file.go")));
        paths
    }

    async fn run_sequence(seed: u64, markdown: bool, shas: bool) {
        let mut rng = StdRng::seed_from_u64(seed);
        let forge = MemoryForge::default();
        forge.with(|s| s.compare_without_shas = !shas);
        let policy = OwnersPolicy {
            markdown_front_matter: markdown,
            ..OwnersPolicy::default()
        };
        let moving =
            OwnersLoader::with_policy(Arc::new(MemoryOwnersCache::default()), policy.clone());
        let mut files = initial(&mut rng);
        for step in 0..30 {
            if step > 0 {
                for _ in 0..rng.random_range(1..=3) {
                    change(&mut rng, &mut files, step);
                }
            }
            let sha = format!("c{step}");
            forge.with(|s| s.commits.insert(sha.clone(), files.clone()));
            let all = query_paths(&files);
            // A partial load first, so the next base carries over a partly loaded view.
            let some: Vec<String> = all
                .iter()
                .filter(|_| rng.random_bool(0.3))
                .cloned()
                .collect();
            moving
                .owners_on_branch(&forge, &repo(), "main", &sha, &some)
                .await
                .expect("partial");
            let incremental = moving
                .owners_on_branch(&forge, &repo(), "main", &sha, &all)
                .await
                .expect("incremental");
            let fresh =
                OwnersLoader::with_policy(Arc::new(MemoryOwnersCache::default()), policy.clone())
                    .owners_on_branch(&forge, &repo(), "main", &sha, &all)
                    .await
                    .expect("fresh");
            assert_eq!(
                answers(&incremental, &all),
                answers(&fresh, &all),
                "seed {seed}, markdown {markdown}, shas {shas}, step {step}"
            );
        }
        let stats = moving.stats();
        assert_eq!(
            stats.tree_calls, 1,
            "every later base came from a compare: {stats:?}"
        );
        assert_eq!(stats.compare_calls, 29);
    }

    #[tokio::test]
    async fn random_owners_changes_give_the_same_answers_as_a_fresh_index() {
        for seed in 0..12 {
            for (markdown, shas) in [(false, true), (true, true), (false, false), (true, false)] {
                run_sequence(seed, markdown, shas).await;
            }
        }
    }
}
