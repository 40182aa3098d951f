#!/usr/bin/env bash
# Uploads the built dashboard (dashboard/dist) to the stack's private bucket and makes
# CloudFront serve it (template.yaml, section 7). `make deploy` runs it after `sam deploy`;
# run it alone to ship a dashboard change without a stack update.
#
#   bash scripts/deploy-dashboard.sh [stack-name]
#
# The stack: the argument, else STACK_NAME, else `tollgate` (samconfig.toml's stack_name).
# The bucket and the distribution come from the stack's outputs (DashboardBucketName,
# DashboardDistributionId). The AWS CLI uses its usual credentials and region (AWS_PROFILE,
# AWS_REGION, ...): the stack's region.
#
# Order matters: the hashed files under assets/ first (immutable, cached for a year), then
# the other files, then index.html (no-cache) last, so a browser never gets an index.html
# that names assets not yet uploaded. Old assets are kept (not --delete): a tab still running
# the previous build can load its lazy chunks. Then /index.html is invalidated (every deep
# link is served as /index.html, so that one path is enough).
set -euo pipefail
cd "$(dirname "$0")/.."

stack="${1:-${STACK_NAME:-tollgate}}"
dist="dashboard/dist"

if ! command -v aws >/dev/null 2>&1; then
  echo "deploy-dashboard: the AWS CLI ('aws') is not installed or not on PATH." >&2
  echo "  Install it (AWS CLI v2, or: pip install awscli), configure credentials and the stack's region," >&2
  echo "  then run: bash scripts/deploy-dashboard.sh $stack" >&2
  exit 1
fi

# Build when there is no build, or when a source file is newer than it.
if [[ ! -f "$dist/index.html" ]] || [[ -n "$(find dashboard -path dashboard/node_modules -prune -o -path "$dist" -prune -o -type f -newer "$dist/index.html" -print -quit)" ]]; then
  command -v npm >/dev/null 2>&1 || { echo "deploy-dashboard: npm (Node 20.19 or later) is needed to build the dashboard" >&2; exit 1; }
  echo "==> building the dashboard ($dist)"
  (cd dashboard && npm ci --no-audit --no-fund && npm run build)
fi
[[ -f "$dist/index.html" ]] || { echo "deploy-dashboard: $dist/index.html missing after the build" >&2; exit 1; }

output() {
  local value
  if ! value=$(aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text); then
    echo "deploy-dashboard: cannot read the outputs of stack $stack (credentials, region, stack name?)" >&2
    exit 1
  fi
  if [[ -z "$value" || "$value" == "None" ]]; then
    echo "deploy-dashboard: stack $stack has no output $1 (deploy template.yaml first: sam deploy)" >&2
    exit 1
  fi
  printf '%s' "$value"
}
bucket=$(output DashboardBucketName)
distribution=$(output DashboardDistributionId)
url=$(output DashboardUrl)

echo "==> uploading $dist to s3://$bucket (stack $stack)"
if [[ -d "$dist/assets" ]]; then
  aws s3 sync "$dist/assets" "s3://$bucket/assets" --only-show-errors \
    --cache-control "public, max-age=31536000, immutable"
fi
aws s3 sync "$dist" "s3://$bucket" --only-show-errors \
  --exclude "assets/*" --exclude "index.html" --cache-control "no-cache"
aws s3 cp "$dist/index.html" "s3://$bucket/index.html" --only-show-errors \
  --cache-control "no-cache" --content-type "text/html; charset=utf-8"

echo "==> invalidating /index.html on CloudFront distribution $distribution"
aws cloudfront create-invalidation --distribution-id "$distribution" --paths /index.html \
  --query "Invalidation.Id" --output text >/dev/null

echo "==> the dashboard is at $url"
