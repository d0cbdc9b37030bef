#!/usr/bin/env bash
# The weekly timeouts job for a deployment repository: collect -> recommend -> report -> export
# -> export --diff against the deployed config; when something material changed, commit the new
# config on a fixed branch and open (or update) one pull request whose body is the diff.
#
# Run from the repository's root (where analyzer.toml is). Settings, from the environment:
#   ANALYZER_ENV        the env to recommend for (required), e.g. staging
#   DEPLOYED_CONFIG     the config file the deployment ships, relative to the root (default:
#                       the env's `deployed = "PATH"` in analyzer.toml; one of them is needed).
#                       `recommend` carries over from it: on a fresh store (a runner's) a key
#                       without evidence keeps its deployed value, never falls to the default
#   ANALYZER_IMPORT     offline path: `analyze import` these files or folders instead of
#                       `analyze collect` (no Cloud Logging needed; the tests use it)
#   COLLECT_ARGS        extra `analyze collect` flags, e.g. "--since 28d" for a first fill
#   MIN_CHANGE          export --diff --min-change (default 10%,2s)
#   PR_BRANCH           the pull request's branch (default analyzer/timeouts-ENV): fixed, so a
#                       rerun force-pushes it and updates the same pull request
#   BASE_BRANCH         the pull request's base (default: the branch checked out)
#   OUT_DIR             where the report, the new config and the PR body go
#                       (default $RUNNER_TEMP/analyzer-weekly, else ./analyzer-weekly)
#   REPORT_URL          a link the body gives for the HTML report (default: this Actions run)
# Needs `analyze`, `git`, `jq` and `gh` (authenticated by $GH_TOKEN) on PATH; store, project,
# service, policy and the deployed file come from analyzer.toml.
#
# Exit codes: 0 nothing material changed (quiet) or the pull request is open and up to date;
# 2 the deployed config is invalid (export --diff's 2); anything else non-zero is a failed step.
set -euo pipefail

env_name=${ANALYZER_ENV:?set ANALYZER_ENV, e.g. staging}
deployed=${DEPLOYED_CONFIG:-$(analyze config show --format json recommend --env "$env_name" |
    jq -r '.[] | select(.setting == "deployed") | .value // empty')}
deployed=${deployed#"$(pwd -P)/"} # shown and committed relative to the root
deployed=${deployed#"$PWD/"}
if [[ -z $deployed ]]; then
    echo "no deployed config: set deployed = \"PATH\" under [env.$env_name] in analyzer.toml (or DEPLOYED_CONFIG)" >&2
    exit 2
fi
min_change=${MIN_CHANGE:-10%,2s}
branch=${PR_BRANCH:-analyzer/timeouts-${env_name}}
base=${BASE_BRANCH:-$(git rev-parse --abbrev-ref HEAD)}
out_dir=${OUT_DIR:-${RUNNER_TEMP:-.}/analyzer-weekly}
if [[ -z ${REPORT_URL:-} && -n ${GITHUB_RUN_ID:-} ]]; then
    REPORT_URL="${GITHUB_SERVER_URL}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}"
fi
mkdir -p "$out_dir"
# An invalid deployed file stops the job before any work (recommend carries over from it).
if [[ -e $deployed ]] && ! analyze export --check "$deployed"; then
    echo "$deployed is not a config the service would load" >&2
    exit 2
fi
new_config="$out_dir/$(basename "$deployed")"
body="$out_dir/pr-body.md"
rm -f "$out_dir/config.env" # written below only when nothing is deployed yet

if [[ -n ${ANALYZER_IMPORT:-} ]]; then
    # shellcheck disable=SC2086 # several paths, split on purpose
    analyze import ${ANALYZER_IMPORT} --env "$env_name"
else
    # shellcheck disable=SC2086 # extra flags, split on purpose
    analyze collect --env "$env_name" ${COLLECT_ARGS:-}
fi
analyze recommend --env "$env_name" --deployed "$deployed" >"$out_dir/recommend.txt"
analyze report --env "$env_name" --out "$out_dir/report.html"

# The diff: 0 nothing beyond --min-change, 1 something material, 2 the deployed file is invalid.
if [[ -e $deployed ]]; then
    status=0
    analyze export --env "$env_name" --out "$new_config" --diff "$deployed" \
        --min-change "$min_change" >"$out_dir/diff.txt" 2>"$out_dir/export.txt" || status=$?
    cat "$out_dir/export.txt" >&2
    cat "$out_dir/diff.txt"
    if [[ $status -eq 0 ]]; then
        echo "nothing changed beyond --min-change $min_change: no pull request"
        exit 0
    elif [[ $status -ne 1 ]]; then
        echo "export --diff failed (exit $status): $deployed is not a config the service would load" >&2
        exit "$status"
    fi
    summary="the values that changed beyond --min-change $min_change, deployed -> new"
else
    # Nothing deployed yet: every key is new; the service runs the runtime's defaults until then.
    analyze export --env "$env_name" --out "$new_config" 2>"$out_dir/export.txt"
    cat "$out_dir/export.txt" >&2
    analyze export --env "$env_name" --out - --format env >"$out_dir/config.env" 2>/dev/null
    # The keys with evidence, as recommend's table shows them (current -> recommended).
    awk '/^(env-wide|service) /{on=1} /^(Warnings|Circuit breaker|[0-9]+ key\(s\))/{on=0} on' \
        "$out_dir/recommend.txt" >"$out_dir/diff.txt"
    summary="no config is deployed at $deployed yet (services run the built-in defaults): every key is new; the keys with evidence"
fi

{
    echo "## Startup timeouts for \`$env_name\`"
    echo
    echo "\`analyze export --diff\` found $summary."
    echo
    echo '```text'
    head -c 60000 "$out_dir/diff.txt"
    echo '```'
    if [[ -n ${REPORT_URL:-} ]]; then
        echo
        echo "The evidence in full (survival curves, warnings, regressions): the HTML report attached to $REPORT_URL."
    fi
    echo
    echo "Check before merging: \`analyze export --check $deployed\`."
    echo
    echo "<details><summary>Provenance: the run$([[ -f $out_dir/config.env ]] && echo ', the whole config')</summary>"
    echo
    echo "Run: $(grep -m1 '^exporting run' "$out_dir/export.txt" | sed 's/^exporting //')"
    if [[ -f $out_dir/config.env ]]; then
        echo
        echo '```text'
        head -c 60000 "$out_dir/config.env"
        echo '```'
    fi
    echo
    echo "</details>"
} >"$body"

mkdir -p "$(dirname "$deployed")"
cp "$new_config" "$deployed"
git checkout -q -B "$branch"
git add "$deployed"
git commit -q -m "Startup timeouts for $env_name from the weekly run"
git push -q --force origin "$branch"
git checkout -q "$base"

title="Startup timeouts for $env_name"
number=$(gh pr list --head "$branch" --base "$base" --state open --json number --jq '.[0].number // empty')
if [[ -n $number ]]; then
    gh pr edit "$number" --title "$title" --body-file "$body"
    echo "updated pull request #$number from $branch"
else
    gh pr create --base "$base" --head "$branch" --title "$title" --body-file "$body"
    echo "opened a pull request from $branch"
fi
