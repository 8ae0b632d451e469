# Installs the system packages the test suite and the local federation need, when missing.
# Sourced by deploy/test and .ci/run. Debian packages only; nothing is downloaded from elsewhere.

# command -> Debian package that provides it
declare -A ABT_PREREQUISITES=(
  [softhsm2-util]=softhsm2 # PKCS#11 HSM for the signer and federation tests
  [pkcs11-tool]=opensc     # inspecting PKCS#11 tokens during key ceremonies
  [node]=nodejs            # the js-ipfs daemon of the tests and the quick start
  [npm]=npm                # installs js-ipfs (deploy/ipfs/install)
)

ensure_prerequisites() {
  ensure_packages
  "$(dirname "${BASH_SOURCE[0]}")/../ipfs/install"
}

ensure_packages() {
  local missing=() cmd
  for cmd in "${!ABT_PREREQUISITES[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("${ABT_PREREQUISITES[$cmd]}")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "installing missing packages: ${missing[*]}" >&2
  local sudo=()
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      echo "error: run as root or install these Debian packages first: ${missing[*]}" >&2
      return 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
