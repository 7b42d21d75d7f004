#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the repository's tests/fixtures (and fuzz/seeds/). Idempotent; the
# corpora are not committed (.gitignore): run this before fuzzing, as .ci/run does.
#   fuzz/seed.sh [FIXTURES_DIR]      (default: tests/fixtures of the repository)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
fixtures="${1:-$here/../tests/fixtures}"
[ -d "$fixtures" ] || { echo "seed.sh: no fixtures at $fixtures" >&2; exit 1; }
corpus="$here/corpus"
mkdir -p "$corpus"/{github_normalizer,gitlab_normalizer,command_parser,config_loader,owners}

# GitHub: "<X-GitHub-Event>\n<payload>", the event named by the fixture's directory.
for f in "$fixtures"/github/*/*.json; do
  event="$(basename "$(dirname "$f")")"
  { printf '%s\n' "$event"; cat "$f"; } > "$corpus/github_normalizer/$event.$(basename "$f")"
done

# GitLab: "<X-Gitlab-Event>\n<payload>", the header GitLab sends for the directory's kind.
gitlab_header() {
  case "$1" in
    merge_request) echo "Merge Request Hook" ;;
    note) echo "Note Hook" ;;
    issue) echo "Issue Hook" ;;
    push) echo "Push Hook" ;;
    tag_push) echo "Tag Push Hook" ;;
    pipeline) echo "Pipeline Hook" ;;
    *) echo "$1" ;;
  esac
}
for f in "$fixtures"/gitlab/*/*.json; do
  kind="$(basename "$(dirname "$f")")"
  { gitlab_header "$kind"; cat "$f"; } > "$corpus/gitlab_normalizer/$kind.$(basename "$f")"
done

# Comment text: a byte choosing the forge ("g" GitHub, "l" GitLab), then the body: the
# hand-written seeds on both forges, plus every comment/note/description body in the fixtures
# when jq is installed.
for f in "$here"/seeds/command_parser/*; do
  { printf 'g'; cat "$f"; } > "$corpus/command_parser/github.$(basename "$f")"
  { printf 'l'; cat "$f"; } > "$corpus/command_parser/gitlab.$(basename "$f")"
done
if command -v jq > /dev/null; then
  n=0
  for f in "$fixtures"/github/*/*.json "$fixtures"/gitlab/*/*.json; do
    case "$f" in */gitlab/*) forge=l ;; *) forge=g ;; esac
    { printf '%s' "$forge"
      jq -r '[.comment.body, .review.body, .pull_request.body, .issue.body,
              .object_attributes.note, .object_attributes.description]
             | map(select(type == "string" and . != "")) | .[]' "$f" 2> /dev/null || true
    } > "$corpus/command_parser/fixture.$n"
    [ "$(wc -c < "$corpus/command_parser/fixture.$n")" -gt 1 ] || rm -f "$corpus/command_parser/fixture.$n"
    n=$((n + 1))
  done
fi

# Config: the example file and the hand-written seeds.
cp "$here/../config.example.toml" "$corpus/config_loader/config.example.toml"
cp "$here"/seeds/config_loader/* "$corpus/config_loader/"

# OWNERS: every OWNERS and OWNERS_ALIASES file.
if [ -d "$fixtures/owners" ]; then
  find "$fixtures/owners" -type f \( -name OWNERS -o -name OWNERS_ALIASES \) -print0 |
    while IFS= read -r -d '' f; do
      cp "$f" "$corpus/owners/$(printf '%s' "$f" | sha256sum | cut -c1-16)"
    done
fi

for d in "$corpus"/*/; do
  printf '%-20s %5d seeds\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
