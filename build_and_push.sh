#!/usr/bin/env bash
# Build the image and push it to Amazon ECR; print the full image URI as the last line of stdout.
#
#   ./build_and_push.sh IMAGE_NAME [TAG]
#   IMAGE=$(./build_and_push.sh sagemaker-byoc)          # capture the URI
#
# IMAGE_NAME is the ECR repository (created when missing, with scan on push). TAG is immutable:
# given, or the git commit (plus -dirty-<time> for uncommitted changes); `latest` is moved too.
# Region: AWS_REGION, AWS_DEFAULT_REGION, then the profile's (AWS_PROFILE); account: STS.
#
# Environment:
#   PLATFORM=linux/amd64   what to build for; linux/arm64 for Graviton endpoints (ml.c7g.* ...)
#   BASE_IMAGE=...         passed to the Dockerfile as --build-arg BASE_IMAGE
#   REGISTRY=host[:port]   push there instead of ECR (the repository is still ensured in ECR);
#                          no ECR login for a registry that is not ECR
#   AWS_ENDPOINT_URL=...   send every AWS call to this endpoint (an emulator such as moto); needs
#                          REGISTRY on this machine: the layers go there, and the image's manifest
#                          is recorded in the emulator's ECR, whose URI is printed last
#   FORCE=1                push even when TAG is already in the registry
#   BYOC=...               the byoc command to use (default: byoc on PATH, then .venv/bin/byoc)
#
# Exit codes: 0 pushed; 1 a step failed; 2 bad arguments; 3 Docker, the byoc CLI or AWS
# credentials/region/permissions missing.
set -euo pipefail

prog=build_and_push.sh
say() { echo "==> $*" >&2; }
die() { local code=$1; shift; echo "$prog: $*" >&2; exit "$code"; }
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2; }

[ $# -ge 1 ] && [ $# -le 2 ] || usage
case "$1" in -h|--help) usage ;; esac
IMAGE_NAME=$1
TAG=${2:-}
PLATFORM=${PLATFORM:-linux/amd64}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# -- arguments ---------------------------------------------------------------------------------
case "$PLATFORM" in
  linux/amd64|linux/arm64|linux/arm64/v8) ;;
  *) die 2 "PLATFORM '$PLATFORM' is not one SageMaker runs: linux/amd64 (all training, transform and most endpoints) or linux/arm64 (Graviton endpoints)" ;;
esac
want_arch=${PLATFORM#linux/}; want_arch=${want_arch%%/*}

if [ -z "$TAG" ]; then
  if commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null); then
    TAG=$commit
    if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
      TAG="$commit-dirty-$(date -u +%Y%m%d%H%M%S)"
      say "uncommitted changes: tagging $TAG (commit them for a tag that names a commit)"
    fi
  else
    TAG="build-$(date -u +%Y%m%d%H%M%S)"
  fi
fi

# -- tools -------------------------------------------------------------------------------------
if [ -n "${BYOC:-}" ]; then
  read -r -a byoc <<<"$BYOC"
elif command -v byoc >/dev/null 2>&1; then
  byoc=(byoc)
elif [ -x "$ROOT/.venv/bin/byoc" ]; then
  byoc=("$ROOT/.venv/bin/byoc")
else
  die 3 "the byoc CLI makes the AWS calls and is not installed: run 'make test' once (it creates .venv), or pip install -e '.[cli]'"
fi
# What a repository name and a tag may be is byoc's to say (byoc.aws.ecr), before anything runs.
"${byoc[@]}" ecr check-target -- "$IMAGE_NAME" "$TAG" || exit $?

command -v docker >/dev/null 2>&1 || die 3 "docker is not installed (https://docs.docker.com/get-docker/)"
if ! docker_error=$(docker info 2>&1 >/dev/null); then
  die 3 "the Docker engine is not reachable: is it running, and may this user use it? ($(echo "$docker_error" | tail -n1))"
fi
[ -f "$ROOT/Dockerfile" ] || die 3 "no Dockerfile in $ROOT"

# -- AWS: region, account, repository ----------------------------------------------------------
[ -z "${AWS_ENDPOINT_URL:-}" ] || say "AWS calls go to $AWS_ENDPOINT_URL"
identity=$("${byoc[@]}" ecr whoami) || exit $?
read -r REGION ACCOUNT ECR_HOST <<<"$identity"
HOST=${REGISTRY:-$ECR_HOST}
say "region $REGION, account $ACCOUNT, registry $HOST"
host_kind=$("${byoc[@]}" ecr registry-kind "$HOST") || exit $?
if [ -n "${AWS_ENDPOINT_URL:-}" ] && [ "$host_kind" = ecr ]; then
  die 2 "AWS_ENDPOINT_URL sends the AWS calls to $AWS_ENDPOINT_URL, but the push would go to $HOST, the real ECR, with the emulator's credentials: set REGISTRY=127.0.0.1:5000 (a registry of your own) to push the layers there"
fi

"${byoc[@]}" ecr ensure-repo "$IMAGE_NAME" >/dev/null || exit $?

URI="$HOST/$IMAGE_NAME:$TAG"
LATEST="$HOST/$IMAGE_NAME:latest"

# -- login: ECR credentials are for ECR hosts only ---------------------------------------------
if [ "$host_kind" = ecr ]; then
  say "docker login $HOST (token valid 12 hours)"
  "${byoc[@]}" ecr password | docker login --username AWS --password-stdin "$HOST" >&2 \
    || die 3 "docker login to $HOST failed (see above)"
else
  say "$HOST is not an ECR registry: not logging in (run docker login yourself if it needs credentials)"
fi

exists=$("${byoc[@]}" ecr tag-exists "$HOST" "$IMAGE_NAME" "$TAG") || exit $?
if [ "$exists" = yes ]; then
  if [ "${FORCE:-0}" = 1 ]; then
    say "$URI already exists; FORCE=1: overwriting it"
  else
    die 1 "$URI already exists, and tags are immutable here: commit your change (the tag comes from the commit), give another TAG, or FORCE=1"
  fi
fi

# -- build -------------------------------------------------------------------------------------
build_args=()
[ -z "${BASE_IMAGE:-}" ] || build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if docker buildx version >/dev/null 2>&1; then
  build=(docker buildx build --load)
else
  # No buildx: the legacy builder. It accepts --platform but builds for the engine's own
  # architecture (for another one it would go looking for base images on Docker Hub, and its RUN
  # steps would need QEMU). So refuse a foreign platform here rather than fail halfway.
  engine_arch=$(docker info --format '{{.Architecture}}' 2>/dev/null || echo unknown)
  case "$engine_arch" in x86_64|amd64) engine_arch=amd64 ;; aarch64|arm64) engine_arch=arm64 ;; esac
  if [ "$engine_arch" != "$want_arch" ]; then
    die 1 "PLATFORM=$PLATFORM, but this Docker engine is linux/$engine_arch and has no buildx, so it builds for linux/$engine_arch only. Install docker buildx (with QEMU: docker run --privileged --rm tonistiigi/binfmt --install $want_arch), or build on a $PLATFORM machine. Nothing was built or pushed."
  fi
  build=(env DOCKER_BUILDKIT=0 docker build)
fi
say "building $URI for $PLATFORM (${build[*]:0:3})"
"${build[@]}" --platform "$PLATFORM" ${build_args[@]+"${build_args[@]}"} -t "$URI" -t "$LATEST" "$ROOT" >&2 \
  || die 1 "docker build failed (see above)"

built=$(docker image inspect -f '{{.Os}}/{{.Architecture}}' "$URI")
if [ "$built" != "linux/$want_arch" ]; then
  die 1 "the image was built for $built, not $PLATFORM (a FROM --platform in the Dockerfile, or a builder that ignored --platform). Nothing was pushed."
fi
say "image is $built, as SageMaker needs for $([ "$want_arch" = arm64 ] && echo 'Graviton endpoints' || echo 'x86 instances')"

# -- push --------------------------------------------------------------------------------------
for ref in "$URI" "$LATEST"; do
  say "docker push $ref"
  docker push "$ref" >&2 || die 1 "docker push $ref failed: 'no basic auth credentials' means not logged in to $HOST (another account, region or sudo user); 'denied' means the identity lacks ecr:InitiateLayerUpload/PutImage on $IMAGE_NAME"
done
say "pushed $URI (and :latest)"

# -- an emulator: record the pushed image in its ECR -------------------------------------------
# An emulator takes no layers, so SageMaker calls against it would not find the image: its
# manifest is put into the emulator's ECR under both tags, and the local image is tagged with the
# ECR URI too (the commands check its architecture). That URI is what the commands take.
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  ECR_URI=$("${byoc[@]}" ecr record-image "$HOST" "$IMAGE_NAME" "$TAG" latest) || exit $?
  docker tag "$URI" "$ECR_URI"
  say "the emulator's ECR has $ECR_URI; its layers are in $HOST only"
  URI=$ECR_URI
fi
echo "$URI"
