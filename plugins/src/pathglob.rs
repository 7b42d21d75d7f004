//! Path patterns as `.gitattributes` writes them, shared by `size` (generated files) and
//! `path-label`, so one rule holds everywhere a person writes a path pattern for bosun:
//!
//! - a pattern without `/` matches the file name at any depth (`*.md`, `go.sum`);
//! - a pattern with `/` is anchored at the repository root (a leading `/` is dropped);
//! - `*` and `?` never cross `/`, `**` does (`docs/**`, `**/testdata/**`);
//! - a trailing `/` means everything under that directory (`docs/` = `docs/**`).

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

/// Turns one pattern into a glob over full repository paths, or says why it is not one.
pub fn glob(pattern: &str) -> Result<Glob, String> {
    let trimmed = pattern.trim();
    if trimmed.is_empty() {
        return Err("empty pattern".into());
    }
    let dir = trimmed.ends_with('/');
    let body = trimmed.trim_start_matches('/').trim_end_matches('/');
    if body.is_empty() {
        return Err(format!("pattern {pattern:?} names no path"));
    }
    let anchored = trimmed.starts_with('/') || body.contains('/');
    let mut full = if anchored {
        body.to_string()
    } else {
        format!("**/{body}")
    };
    if dir {
        full.push_str("/**");
    }
    GlobBuilder::new(&full)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("bad glob {pattern:?}: {}", e.kind()))
}

/// Compiles several patterns into one set; the set's match indices are the patterns' indices.
pub fn glob_set<S: AsRef<str>>(patterns: &[S]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        builder.add(glob(p.as_ref())?);
    }
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> bool {
        glob(pattern)
            .expect("valid")
            .compile_matcher()
            .is_match(path)
    }

    #[test]
    fn patterns_follow_gitattributes_rules() {
        assert!(matches("*.md", "README.md"));
        assert!(matches("*.md", "docs/deep/x.md"));
        assert!(matches("go.sum", "sub/go.sum"));
        assert!(matches("/go.sum", "go.sum"));
        assert!(!matches("/go.sum", "sub/go.sum"));
        assert!(matches("docs/*.md", "docs/a.md"));
        assert!(
            !matches("docs/*.md", "docs/a/b.md"),
            "* stays in one directory"
        );
        assert!(
            !matches("docs/*.md", "x/docs/a.md"),
            "a / anchors at the root"
        );
        assert!(matches("docs/**", "docs/a/b.md"));
        assert!(matches("docs/", "docs/a/b.md"));
        assert!(matches("**/testdata/**", "pkg/x/testdata/f.json"));
        assert!(matches(
            "zz_generated.*",
            "pkg/apis/zz_generated.deepcopy.go"
        ));
    }

    #[test]
    fn bad_patterns_say_why() {
        assert!(glob("").is_err());
        assert!(glob("/").is_err());
        let e = glob("a/[b").expect_err("unclosed class");
        assert!(e.starts_with("bad glob \"a/[b\""), "{e}");
    }
}
