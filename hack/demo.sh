#!/usr/bin/env bash
# Runs the whole Ferry system on this machine and moves one table through it:
#
#   hack/demo.sh            (make demo)              SQLite file to SQLite file
#   DB=mariadb hack/demo.sh (make demo DB=mariadb)   MariaDB server to MariaDB server
#   hack/demo.sh --down     (make demo-down)         stop everything the demo started
#
# It builds the binaries and the image, starts the reference control plane on SQLite, starts
# the local single-node cluster (hack/cluster-up.sh), imports the image and installs the CRDs.
# Then it starts the manager as a host process, creates a cluster and a registration token in
# the control plane, stores the token in a Secret and creates a TransferRunner. Last, it
# prepares the sample databases, creates a transfer configuration, runs it and waits for the
# job. The logs, PID files, generated admin token and encryption key and the SQLite files are
# all in .demo/. Every address is 127.0.0.1.
#
# Needs root, because the local cluster does. A second run first tears down the first.
#
# Environment:
#   DB          sqlite (default) or mariadb
#   DEMO_PORT   the control plane's port on 127.0.0.1 (default 18080)
set -Eeuo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${repo_root}"

demo_dir="${repo_root}/.demo"
pid_dir="${demo_dir}/pids"
data_dir="${demo_dir}/data"
db_kind="${DB:-sqlite}"
port="${DEMO_PORT:-18080}"
namespace=ferry-demo
job_image=ferry:dev
bin="${repo_root}/bin"
kubeconfig="${repo_root}/.cluster/kubeconfig"

started_at="${SECONDS}"
current_step=""
current_log=""

# say prints a progress line with the seconds since the demo started.
say() {
  printf '==> [%3ds] %s\n' "$((SECONDS - started_at))" "$*"
}

die() {
  echo "demo: $*" >&2
  exit 1
}

# on_error reports the step that failed with the end of its log.
on_error() {
  local code=$?
  if [[ -n "${current_step}" ]]; then
    echo >&2
    echo "demo: step \"${current_step}\" failed (exit ${code})" >&2
    if [[ -n "${current_log}" && -f "${current_log}" ]]; then
      echo "demo: last lines of ${current_log}:" >&2
      tail -n 25 "${current_log}" | sed 's/^/    /' >&2
      echo "demo: full log: ${current_log}" >&2
    fi
    echo "demo: clean up with: make demo-down" >&2
  fi
  exit "${code}"
}

# step DESCRIPTION LOG COMMAND...: runs COMMAND with its output in LOG, announcing it first.
step() {
  current_step="$1"
  current_log="$2"
  shift 2
  say "${current_step}"
  "$@" >>"${current_log}" 2>&1
}

# start_background NAME LOG COMMAND...: runs COMMAND in its own session, its PID in pids/NAME.pid.
start_background() {
  local name="$1" log="$2"
  shift 2
  setsid "$@" >"${log}" 2>&1 </dev/null &
  echo $! >"${pid_dir}/${name}.pid"
}

# alive NAME: whether the process recorded as NAME still runs.
alive() {
  local pid_file="${pid_dir}/$1.pid"
  [[ -f "${pid_file}" ]] && kill -0 "$(<"${pid_file}")" 2>/dev/null
}

# wait_until NAME SECONDS COMMAND...: polls COMMAND until it succeeds. It fails when the time
# runs out or when the process recorded as NAME exits; NAME "-" watches no process.
wait_until() {
  local name="$1" timeout="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [[ "${name}" != - ]] && ! alive "${name}"; then
      echo "demo: ${name} exited" >>"${current_log}"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "demo: timed out after ${timeout}s waiting for: $*" >>"${current_log}"
      return 1
    fi
    sleep 0.5
  done
}

# json_field NAME: prints the first top-level string field NAME of the indented JSON on stdin.
json_field() {
  sed -n "s/^  \"$1\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" | head -n 1
}

# stop_process NAME: SIGTERM to the process recorded as NAME, SIGKILL after 20 seconds.
stop_process() {
  local name="$1" pid_file="${pid_dir}/$1.pid" pid
  [[ -f "${pid_file}" ]] || return 0
  pid="$(<"${pid_file}")"
  if kill -0 "${pid}" 2>/dev/null; then
    kill -TERM "${pid}" 2>/dev/null || true
    for _ in $(seq 1 40); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "${pid}" 2>/dev/null; then
      kill -KILL "${pid}" 2>/dev/null || true
      echo "demo-down: stopped ${name} (pid ${pid}) with SIGKILL after 20s"
    else
      echo "demo-down: stopped ${name} (pid ${pid})"
    fi
  fi
  rm -f "${pid_file}"
}

# down stops the manager, the control plane and the sample databases by PID, stops the local
# cluster and removes .demo.
down() {
  if [[ -d "${pid_dir}" ]]; then
    stop_process manager
    stop_process controlplane
    stop_process demodata
  fi
  "${repo_root}/hack/cluster-down.sh"
  rm -rf "${demo_dir}"
  echo "demo-down: removed ${demo_dir}"
}

[[ "$(id -u)" -eq 0 ]] || die "must run as root, because the local cluster's kubelet, containerd and runc need it"

if [[ "${1:-}" == "--down" ]]; then
  down
  exit 0
fi
[[ $# -eq 0 ]] || die "unknown argument \"$1\"; run hack/demo.sh or hack/demo.sh --down"

case "${db_kind}" in
  sqlite | mariadb) ;;
  *) die "DB=${db_kind} is not supported; use DB=sqlite (default) or DB=mariadb" ;;
esac
if [[ ! "${port}" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
  die "DEMO_PORT=${port} is not a TCP port; use a number from 1 to 65535"
fi

if [[ -d "${demo_dir}" ]]; then
  say "Tearing down the previous demo"
  down
fi
mkdir -p "${pid_dir}" "${data_dir}"
chmod 0700 "${demo_dir}"
# .demo contains an admin token and a registration token, so git must never list it.
echo '*' >"${demo_dir}/.gitignore"
trap on_error ERR

if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
  die "port ${port} on 127.0.0.1 is in use; pick another with DEMO_PORT=PORT"
fi

# --- Build ---------------------------------------------------------------------------------
step "Building the binaries and the image bin/ferry-image.tar" "${demo_dir}/build.log" \
  make build image
step "Building the sample data tool" "${demo_dir}/build.log" \
  go build -o "${bin}/demodata" ./hack/demodata

# --- Control plane -------------------------------------------------------------------------
current_step="Starting the control plane on 127.0.0.1:${port}"
current_log="${demo_dir}/controlplane.log"
say "${current_step} (SQLite store .demo/controlplane.db)"
umask 077
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | sed 's/^/ferry_admin_/' >"${demo_dir}/admin-token"
"${bin}/controlplane" gen-key >"${demo_dir}/encryption.key"
umask 022
start_background controlplane "${current_log}" "${bin}/controlplane" serve \
  --listen "127.0.0.1:${port}" \
  --db "sqlite://${demo_dir}/controlplane.db" \
  --admin-token-file "${demo_dir}/admin-token" \
  --encryption-key-file "${demo_dir}/encryption.key"
wait_until controlplane 60 curl -fsS "http://127.0.0.1:${port}/healthz"
export FERRY_SERVER="http://127.0.0.1:${port}"
FERRY_ADMIN_TOKEN="$(<"${demo_dir}/admin-token")"
export FERRY_ADMIN_TOKEN
cp=("${bin}/controlplane")

# --- Cluster -------------------------------------------------------------------------------
step "Starting the local cluster (hack/cluster-up.sh; takes a minute)" "${demo_dir}/cluster-up.log" \
  hack/cluster-up.sh
export KUBECONFIG="${kubeconfig}"
kubectl=("$(hack/kube-binaries.sh dir)/kubectl")
step "Importing ${job_image} into the cluster" "${demo_dir}/cluster-up.log" \
  hack/cluster-import.sh "${bin}/ferry-image.tar"
step "Installing the CRDs" "${demo_dir}/kubectl.log" \
  "${kubectl[@]}" apply -f config/crd/bases
# kubectl wait fails at once while a new CRD has no status yet, so retry it.
current_step="Waiting for the CRDs"
current_log="${demo_dir}/kubectl.log"
say "${current_step}"
wait_until - 60 "${kubectl[@]}" wait --for condition=Established --timeout 10s \
  crd/transferrunners.transfer.ferry.dev crd/transferjobs.transfer.ferry.dev

# --- Manager -------------------------------------------------------------------------------
current_step="Starting the manager as a host process"
current_log="${demo_dir}/manager.log"
say "${current_step} (log .demo/manager.log)"
start_background manager "${current_log}" "${bin}/manager" \
  --job-image "${job_image}" \
  --metrics-bind-address 0 \
  --health-probe-bind-address 0
sleep 1
alive manager

# --- Cluster and registration token in the control plane ------------------------------------
current_step="Creating cluster \"demo\" and a registration token in the control plane"
current_log="${demo_dir}/admin.log"
say "${current_step}"
"${cp[@]}" cluster create demo >>"${current_log}" 2>&1
(umask 077 && "${cp[@]}" token create --cluster demo -o json | json_field token >"${demo_dir}/registration-token")
[[ -s "${demo_dir}/registration-token" ]]

step "Storing the token in Secret ${namespace}/ferry-registration" "${demo_dir}/kubectl.log" \
  "${kubectl[@]}" create namespace "${namespace}"
"${kubectl[@]}" create secret generic ferry-registration -n "${namespace}" \
  --from-file "token=${demo_dir}/registration-token" >>"${current_log}" 2>&1

current_step="Creating TransferRunner ${namespace}/demo"
say "${current_step}"
sed -e "s|@NAMESPACE@|${namespace}|" \
  -e "s|@CONTROL_PLANE_URL@|http://127.0.0.1:${port}|" \
  -e "s|@JOB_IMAGE@|${job_image}|" \
  -e "s|@DATA_DIR@|${data_dir}|" \
  config/samples/demo/transferrunner.yaml >"${demo_dir}/transferrunner.yaml"
"${kubectl[@]}" apply -f "${demo_dir}/transferrunner.yaml" >>"${current_log}" 2>&1
current_step="Waiting for the runner to join the control plane"
current_log="${demo_dir}/manager.log"
say "${current_step}"
"${kubectl[@]}" wait -n "${namespace}" --for jsonpath='{.status.state}'=Idle --timeout 120s \
  transferrunner/demo >>"${demo_dir}/kubectl.log" 2>&1

# --- Sample data ---------------------------------------------------------------------------
current_log="${demo_dir}/demodata.log"
if [[ "${db_kind}" == sqlite ]]; then
  step "Creating the SQLite source .demo/data/source.db (10,000 orders)" "${current_log}" \
    "${bin}/demodata" sqlite -dir "${data_dir}" -sql config/samples/demo/orders.sqlite.sql
  current_step="Creating the connections"
  say "${current_step}"
  "${cp[@]}" connection create --name demo-source --type sqlite --path /data/source.db >>"${demo_dir}/admin.log" 2>&1
  "${cp[@]}" connection create --name demo-destination --type sqlite --path /data/destination.db >>"${demo_dir}/admin.log" 2>&1
else
  current_step="Starting two MariaDB servers and loading 10,000 orders into the source"
  say "${current_step} (log .demo/demodata.log)"
  start_background demodata "${current_log}" "${bin}/demodata" mariadb \
    -env "${demo_dir}/mariadb.env" -sql config/samples/demo/orders.mariadb.sql
  # Installing mariadb-server with apt-get on a fresh machine takes a few minutes.
  wait_until demodata 600 test -f "${demo_dir}/mariadb.env"
  # shellcheck source=/dev/null
  source "${demo_dir}/mariadb.env"
  current_step="Creating the connections"
  say "${current_step}"
  export SOURCE_PASSWORD DESTINATION_PASSWORD
  "${cp[@]}" connection create --name demo-source --type mysql --host "${SOURCE_HOST}" --port "${SOURCE_PORT}" \
    --database "${SOURCE_DATABASE}" --user "${SOURCE_USER}" --password-env SOURCE_PASSWORD >>"${demo_dir}/admin.log" 2>&1
  "${cp[@]}" connection create --name demo-destination --type mysql --host "${DESTINATION_HOST}" --port "${DESTINATION_PORT}" \
    --database "${DESTINATION_DATABASE}" --user "${DESTINATION_USER}" --password-env DESTINATION_PASSWORD >>"${demo_dir}/admin.log" 2>&1
fi

# --- Transfer ------------------------------------------------------------------------------
current_step="Creating the transfer configuration \"orders\" and running it"
current_log="${demo_dir}/admin.log"
say "${current_step}"
"${cp[@]}" config create --name orders --cluster demo --source demo-source --source-table orders \
  --destination demo-destination --destination-table orders --mode replace >>"${current_log}" 2>&1
job_id="$("${cp[@]}" job run orders -o json | json_field id)"
[[ -n "${job_id}" ]]
say "Job ${job_id} queued; waiting for it"

current_step="Waiting for job ${job_id}"
state=""
deadline=$((SECONDS + 600))
while :; do
  previous="${state}"
  state="$("${cp[@]}" job show "${job_id}" -o json 2>>"${current_log}" | json_field state || true)"
  if [[ -n "${state}" && "${state}" != "${previous}" ]]; then
    say "  job ${job_id}: ${state}"
  fi
  case "${state}" in
    succeeded) break ;;
    failed | cancelled)
      current_log="${demo_dir}/manager.log"
      "${cp[@]}" job show "${job_id}" >&2 || true
      false
      ;;
  esac
  if ((SECONDS >= deadline)); then
    current_log="${demo_dir}/manager.log"
    false
  fi
  sleep 1
done
current_log="${demo_dir}/kubectl.log"
"${kubectl[@]}" wait -n "${namespace}" --for jsonpath='{.status.phase}'=Succeeded --timeout 60s transferjobs --all >>"${current_log}" 2>&1
# The runner turns Idle at its next heartbeat; the listing below reads better after it.
"${kubectl[@]}" wait -n "${namespace}" --for jsonpath='{.status.state}'=Idle --timeout 30s \
  transferrunner/demo >>"${current_log}" 2>&1 || true

# --- Results -------------------------------------------------------------------------------
current_step=""
trap - ERR
echo
say "kubectl get transferrunners,transferjobs -n ${namespace}"
"${kubectl[@]}" get transferrunners,transferjobs -n "${namespace}"
echo
say "controlplane job show ${job_id}"
"${cp[@]}" job show "${job_id}"
echo
say "The job's log, as the control plane stored it (controlplane job logs ${job_id})"
"${cp[@]}" job logs "${job_id}"
echo
elapsed=$((SECONDS - started_at))
echo "${elapsed}" >"${demo_dir}/wall-seconds"
say "Demo finished in ${elapsed}s (DB=${db_kind})."
cat <<EOF

Open the web UI at ${FERRY_SERVER}/ and sign in with the admin token in .demo/admin-token.

Try it yourself:
  export KUBECONFIG=${kubeconfig} FERRY_SERVER=${FERRY_SERVER} FERRY_ADMIN_TOKEN=\$(cat .demo/admin-token)
  bin/controlplane job run orders && bin/controlplane job list
  ${kubectl[0]} get transferjobs -n ${namespace}

Logs are in .demo/ (manager.log, controlplane.log). Tear everything down with:

  make demo-down
EOF
