#!/usr/bin/env bash
# Builds the Kubernetes control plane the cluster tests run (tests/cluster) into .tools/bin, idempotently:
# kube-apiserver, kube-controller-manager, kube-scheduler and kubectl, etcd, and kwok (a simulated node),
# at the versions pinned in versions.env. Nothing is downloaded but Go modules (no release site is reachable
# here); each binary is rebuilt only when its version changes.
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the k8s.io/* staging modules by local
# directories), so it is built from a wrapper module, scripts/kube/control-plane, that requires it and replaces
# each staging module by its published v0.<minor>.<patch> release. The wrapper's go.mod/go.sum are committed
# (go.sum pins every module's hash); when versions.env moves, this script regenerates them: commit the result.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source-path=SCRIPTDIR/../..
source versions.env
: "${KUBE_CONTROL_PLANE_VERSION:?add KUBE_CONTROL_PLANE_VERSION to versions.env}"
: "${ETCD_VERSION:?add ETCD_VERSION to versions.env}"
: "${KWOK_VERSION:?add KWOK_VERSION to versions.env}"

BIN="$PWD/.tools/bin"
SHARE="$PWD/.tools/share/kube"
mkdir -p "$BIN" "$SHARE"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

module_dir() { go mod download -json "$1" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }

# Rewrites a wrapper module's go.mod for new versions; `go mod tidy` then fills go.sum.
# $1 wrapper dir, $2 module path of the wrapper, $3 the go.mod text after the module line.
regenerate() {
  printf 'module %s\n\ngo 1.25.0\n\n%s\n' "$2" "$3" > "$1/go.mod"
  rm -f "$1/go.sum"
  (cd "$1" && go mod tidy)
}

# --- kube-apiserver, kube-controller-manager, kube-scheduler, kubectl ---------------------------------------
kube_stamp="$BIN/.kube-control-plane-$KUBE_CONTROL_PLANE_VERSION"
if [[ ! -e "$kube_stamp" ]]; then
  wrapper=scripts/kube/control-plane
  if ! grep -qE "^(require )?\s*k8s.io/kubernetes $KUBE_CONTROL_PLANE_VERSION\b" "$wrapper/go.mod" 2>/dev/null; then
    staging_version="v0.${KUBE_CONTROL_PLANE_VERSION#v1.}"
    kube_gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_CONTROL_PLANE_VERSION" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
    replaces=$(sed -n 's|^\t\(k8s.io/[^ ]*\) => ./staging/src/.*|\t\1 => \1 '"$staging_version"'|p' "$kube_gomod")
    regenerate "$wrapper" istio-apim/kube-control-plane "require k8s.io/kubernetes $KUBE_CONTROL_PLANE_VERSION

tool (
	k8s.io/kubernetes/cmd/kube-apiserver
	k8s.io/kubernetes/cmd/kube-controller-manager
	k8s.io/kubernetes/cmd/kube-scheduler
	k8s.io/kubernetes/cmd/kubectl
)

replace (
$replaces
)"
  fi
  # A release binary's version: helm checks charts' kubeVersion against it, kubectl prints it.
  minor=${KUBE_CONTROL_PLANE_VERSION#v1.}
  minor=${minor%%.*}
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_CONTROL_PLANE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean"
  done
  (cd "$wrapper" && go build -trimpath -ldflags "$ldflags" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  rm -f "$BIN"/.kube-control-plane-* && touch "$kube_stamp"
fi

# --- etcd: the version Kubernetes pins (build/dependencies.yaml); Debian's 3.4 lacks watch progress -----------
etcd_stamp="$BIN/.etcd-$ETCD_VERSION"
if [[ ! -e "$etcd_stamp" ]]; then
  wrapper=scripts/kube/etcd
  if ! grep -qE "^(require )?\s*go.etcd.io/etcd/server/v3 $ETCD_VERSION\b" "$wrapper/go.mod" 2>/dev/null; then
    regenerate "$wrapper" istio-apim/kube-etcd "require go.etcd.io/etcd/server/v3 $ETCD_VERSION

tool go.etcd.io/etcd/server/v3

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)"
  fi
  (cd "$wrapper" && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
  rm -f "$BIN"/.etcd-* && touch "$etcd_stamp"
fi

# --- kwok and the Stage documents that make its fake node and pods behave like kubelet's ------------------------
kwok_stamp="$BIN/.kwok-$KWOK_VERSION"
if [[ ! -e "$kwok_stamp" ]]; then
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  stages=$(module_dir "sigs.k8s.io/kwok@$KWOK_VERSION")/kustomize/stage
  for dir in node/fast node/heartbeat-with-lease pod/general; do
    for file in "$stages/$dir"/*.yaml; do
      [[ $(basename "$file") == kustomization.yaml ]] && continue
      printf -- '---\n'
      cat "$file"
    done
  done > "$SHARE/kwok-stages.yaml"
  rm -f "$BIN"/.kwok-* && touch "$kwok_stamp"
fi
