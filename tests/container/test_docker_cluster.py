"""The Docker cluster as its users meet it: JupyterLab's terminals and
notebooks, the tools in the jupyterlab container's shell, the project
Makefile, cron, and a restart of the whole cluster. The tests run in file
order, and the restart comes last. See conftest.py for the set-up."""
import json
import os
import re
import time
import uuid

import pytest
import websocket

from conftest import HISTORY, JUPYTER, NB_GID, NB_UID

# Text served to sc-fetch from inside the jupyterlab container, with word
# counts known in advance.
WORDS = {"alpha": 7, "bravo": 3, "charlie": 11}


def wait_for(predicate, timeout, what, interval=1.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def ok(proc, what):
    assert proc.returncode == 0, (f"{what}: exit {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    return proc.stdout


def test_cluster_comes_up(cluster):
    state = cluster.master_json()
    alive = [w for w in state["workers"] if w["state"] == "ALIVE"]
    assert len(alive) == 2, state["workers"]
    assert {w["host"] for w in alive} == {"spark-worker-1", "spark-worker-2"}
    out = ok(cluster.sh("sc-status --wait=60 --workers=2 -J"), "sc-status in jupyterlab")
    kinds = [json.loads(line)["type"] for line in out.splitlines() if line.strip()]
    assert kinds.count("worker") == 2, out


def terminal_run(cluster, command, marker, timeout=120):
    """Type COMMAND into a new JupyterLab terminal (a login shell started by
    JupyterLab itself) and return what it printed up to MARKER."""
    _, term = cluster.http("POST", JUPYTER + "/api/terminals")
    name = term["name"]
    ws = websocket.create_connection(
        f"ws://127.0.0.1:8888/terminals/websocket/{name}?token={cluster.token}", timeout=timeout)
    try:
        ws.send(json.dumps(["stdin", command + "\r"]))
        out = ""
        deadline = time.monotonic() + timeout
        while marker not in out:
            if time.monotonic() > deadline:
                raise AssertionError(f"terminal: no {marker!r} within {timeout}s:\n{out}")
            msg = json.loads(ws.recv())
            if msg[0] == "stdout":
                out += msg[1]
        return out
    finally:
        ws.close()
        cluster.http("DELETE", f"{JUPYTER}/api/terminals/{name}")


def test_terminal_is_a_login_shell_with_python_spark_and_tools(cluster):
    # Each line prints a tag the test looks for; the echo of the typed
    # command holds the tags too, so the results are matched as lines.
    cmd = ("shopt -q login_shell && echo LOGIN=yes; echo UID=$(id -u):$(id -g); "
           "python -c 'import pyspark, pandas, matplotlib; print(\"PYSPARK=\" + pyspark.__version__)'; "
           "command -v pyspark spark-submit sc-status | sed 's/^/FOUND=/'; "
           "spark-submit --version 2>&1 | grep -o 'version [0-9.]*' | head -n 1 | sed 's/^/SPARK=/'; "
           "sc-status -q --wait=30 --workers=2 && echo STATUS=ok; "
           "man sc-logs 2>/dev/null | col -b | grep -m1 -o \"collect a Spark application's logs\" | sed 's/^/MAN=/'; "
           "echo END-$((6*7))")
    out = terminal_run(cluster, cmd, "END-42")
    lines = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", l).strip() for l in out.splitlines()]
    assert "LOGIN=yes" in lines, out
    assert f"UID={NB_UID}:{NB_GID}" in lines, out
    assert any(l.startswith("PYSPARK=4.") or l.startswith("PYSPARK=3.") for l in lines), out
    found = {l.split("=", 1)[1].rsplit("/", 1)[-1] for l in lines if l.startswith("FOUND=")}
    assert found == {"pyspark", "spark-submit", "sc-status"}, out
    assert any(re.match(r"SPARK=version \d+\.\d+\.\d+", l) for l in lines), out
    assert "STATUS=ok" in lines, out
    assert "MAN=collect a Spark application's logs" in lines, out


def serve_words(cluster, port=8765):
    """An HTTP server inside the jupyterlab container, over text files whose
    word counts are WORDS; returns a manifest for sc-fetch."""
    script = f"""
set -e
mkdir -p /tmp/site
for w in {' '.join(f'{w}:{n}' for w, n in WORDS.items())}; do
  word=${{w%%:*}} n=${{w##*:}}
  yes "$word" | head -n "$n" > /tmp/site/$word.txt
done
if ! curl -fsS -o /dev/null http://127.0.0.1:{port}/alpha.txt 2>/dev/null; then
  nohup python -m http.server {port} --bind 127.0.0.1 --directory /tmp/site >/tmp/site.log 2>&1 &
fi
for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:{port}/alpha.txt && break; sleep 0.2; done
printf 'http://127.0.0.1:{port}/%s.txt name=%s.txt\\n' {' '.join(f'{w} {w}' for w in WORDS)} > /tmp/site/words.manifest
"""
    ok(cluster.sh(script), "serving the test data")
    return "/tmp/site/words.manifest"


def test_makefile_targets(cluster):
    manifest = serve_words(cluster)
    topic = "ct-" + uuid.uuid4().hex[:8]
    setup = f"""
set -e
rm -rf ~/project && mkdir -p ~/project && cd ~/project
cp /opt/workspace/notebooks/jobs/Makefile.example Makefile
cp /opt/workspace/notebooks/jobs/wordcount.py /opt/workspace/notebooks/jobs/kafka_stream.py .
cp {manifest} datasets.manifest
rm -rf /opt/workspace/datain/* /opt/workspace/dataout/wordcount
"""
    ok(cluster.sh(setup), "project set-up")

    def make(target, *extra, timeout=600):
        return ok(cluster.sh(f"cd ~/project && make {target} {' '.join(extra)}", timeout=timeout),
                  f"make {target}")

    make("data")
    out = ok(cluster.sh("ls /opt/workspace/datain; cat ~/project/datasets.lock"), "datain")
    for w in WORDS:
        assert f"{w}.txt" in out
    assert re.search(r"sha256=[0-9a-f]{64}", out), out

    make("submit")
    out = ok(cluster.sh("cat /opt/workspace/dataout/wordcount/*.csv"), "wordcount output")
    counts = dict(line.split(",") for line in out.split() if "," in line and not line.startswith("word"))
    assert {w: int(n) for w, n in counts.items()} == WORDS, out

    # kcat-lite -> kafka_stream.py through the broker, in the network.
    produce = "printf '%s\\n' " + " ".join(
        f"'u1:{{\"amount\": {a}}}'" for a in (1, 2, 3)) + f" 'u2:{{\"amount\": 10}}' | kcat-lite -P -t {topic} -K :"
    ok(cluster.sh(produce), "kcat-lite -P")
    make("stream", f"TOPIC={topic}")
    app_id = ok(cluster.sh("cat ~/project/app.id"), "app.id").strip()
    out = ok(cluster.sh(f"cat /opt/workspace/dataout/kafka_stream/{topic}/*.csv"), "stream output")
    assert re.search(r"u1,3,6(\.0)?\b", out) and re.search(r"u2,1,10(\.0)?\b", out), out

    make("logs")
    listing = ok(cluster.sh(f"cd ~/project && tar -tzf logs-{app_id}.tar.gz"), "bundle")
    assert f"{app_id}/MANIFEST.json" in listing.split(), listing
    assert re.search(rf"^{app_id}/eventlog/.", listing, re.M), listing
    assert re.search(r"/stderr$", listing, re.M), listing

    make("prune")


def test_sc_kill_by_name(cluster):
    name = "ct-sleeper-" + uuid.uuid4().hex[:6]
    job = ("import time\nfrom pyspark.sql import SparkSession\n"
           "s = SparkSession.builder.getOrCreate()\n"
           "s.sparkContext.parallelize(range(2), 2).map(lambda x: time.sleep(600)).count()\n")
    ok(cluster.sh(f"cat > /tmp/{name}.py <<'EOF'\n{job}EOF\n"), "the job's file")
    ok(cluster.sh(f"sc-submit -q --name {name} /tmp/{name}.py >/tmp/{name}.log 2>&1",
                  detach=True), "sc-submit in the background")

    def running():
        for a in cluster.master_json()["activeapps"]:
            if a["name"] == name and a["state"] == "RUNNING":
                return a
        return None
    app = wait_for(running, 180, f"{name} to run")
    ok(cluster.sh(f"sc-kill --name {name}"), "sc-kill --name")
    done = {a["id"]: a for a in cluster.master_json()["completedapps"]}
    assert app["id"] in done and done[app["id"]]["state"] == "KILLED", done.get(app["id"])


def execute_notebook(cluster, path, env=None, timeout=900):
    out = f"/tmp/{os.path.basename(path)}.out.ipynb"
    proc = cluster.sh(f"cd /opt/workspace/notebooks && jupyter nbconvert --to notebook --execute "
                      f"--ExecutePreprocessor.timeout=600 --output {out} {path}",
                      env=env, timeout=timeout)
    ok(proc, f"nbconvert --execute {path}")
    nb = json.loads(ok(cluster.sh(f"cat {out}"), "executed notebook"))
    text = ""
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            assert o.get("output_type") != "error", f"{path}: {o.get('ename')}: {o.get('evalue')}"
            text += "".join(o.get("text", "")) + json.dumps(o.get("data", {}))
    return text


def history_app(cluster, app_id, timeout=120):
    def find():
        try:
            for a in cluster.history_apps():
                if a["id"] == app_id and all(t.get("completed") for t in a["attempts"]):
                    return a
        except OSError:
            return None
        return None
    return wait_for(find, timeout, f"{app_id} in the history server")


def test_first_steps_notebook(cluster):
    text = execute_notebook(cluster, "first-steps.ipynb")
    m = re.search(r"application: (app-\d+-\d+)", text)
    assert m, text[:2000]
    assert "spark://spark-master:7077" in text
    assert "image/png" in text, "the plot made no image"
    app = history_app(cluster, m.group(1))
    assert app["name"] == "first-steps"
    ok(cluster.sh(f"ls /opt/workspace/events | grep -F {m.group(1)}"), "its event log")
    # A session sc-submit did not start: Spark's own driver-log persistence.
    log = f"/opt/workspace/driver-logs/{m.group(1)}_driver.log"
    wait_for(lambda: cluster.sh(f"test -s {log}").returncode == 0, 60, log)


def test_driver_log_dir_belongs_to_the_cluster_user(cluster):
    out = ok(cluster.sh("stat -c '%u:%g %a' /opt/workspace/driver-logs"), "stat")
    assert out.split() == [f"{NB_UID}:{NB_GID}", "2770"], out
    props = cluster.sh("cat /tmp/clusterops-conf/spark-history.properties",
                       container="spark-history", user=None)
    assert "spark.driver.log.dfsDir=file:/opt/workspace/driver-logs" in \
        ok(props, "the history server's properties").splitlines()


def test_data_notebook(cluster):
    manifest = serve_words(cluster)
    text = execute_notebook(cluster, "data.ipynb",
                            env={"DATASETS_MANIFEST": manifest, "DATASETS_LOCK": "/tmp/nb.lock"})
    out = ok(cluster.sh("cat /opt/workspace/dataout/word-counts/*.csv"), "notebook output")
    rows = dict(l.split(",") for l in out.split() if "," in l and not l.startswith("word"))
    assert {w: int(n) for w, n in rows.items()} == WORDS, out
    apps = [a for a in cluster.master_json()["completedapps"] if a["name"] == "data"]
    assert apps, "the data notebook's application is not among the completed ones"
    app_id = max(apps, key=lambda a: a["starttime"])["id"]
    assert app_id in text or "spark-worker" in text, text[:2000]
    history_app(cluster, app_id)


def test_crontab_runs_for_the_notebook_user(cluster):
    """The environment lines of notebooks/jobs/crontab.example, then a job
    that submits pi.py: cron's bare environment must be enough."""
    example = (cluster.notebooks / "jobs" / "crontab.example").read_text()
    env_lines = [l for l in example.splitlines() if re.match(r"^[A-Z_]+=", l)]
    assert any(l.startswith("PATH=") for l in env_lines), example
    out_dir = "/opt/workspace/dataout/cron-" + uuid.uuid4().hex[:6]
    job = (f"* * * * * mkdir -p {out_dir} && cd {out_dir} && id -u > uid && "
           f"sc-status -J > status.json 2> status.err && "
           f"sc-submit -q --lock=pi.lock --deadline=10m -i app.id "
           f"/opt/workspace/notebooks/jobs/pi.py 2 > pi.out 2> pi.err; "
           f"echo $? > done")
    crontab = "\n".join(env_lines + [job]) + "\n"
    ok(cluster.sh("crontab - && crontab -l", input=crontab), "crontab")
    try:
        def done():
            p = cluster.sh(f"cat {out_dir}/done 2>/dev/null")
            return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None
        status = wait_for(done, 240, "the cron job to end", interval=3)
        files = ok(cluster.sh(f"cd {out_dir} && for f in uid status.err pi.err pi.out app.id; "
                              f"do echo \"== $f\"; head -c 3000 $f; done 2>&1; true"),
                   "the cron job's output")
        assert status == "0", files
        assert ok(cluster.sh(f"cat {out_dir}/uid"), "uid").strip() == str(NB_UID)
        kinds = [json.loads(l)["type"] for l in
                 ok(cluster.sh(f"cat {out_dir}/status.json"), "status").splitlines()]
        assert kinds.count("worker") == 2, kinds
        assert "Pi is roughly 3.1" in files, files
        app_id = ok(cluster.sh(f"cat {out_dir}/app.id"), "app.id").strip()
        done_apps = {a["id"]: a for a in cluster.master_json()["completedapps"]}
        assert done_apps.get(app_id, {}).get("state") == "FINISHED", app_id
        # The driver's output, kept by sc-submit, and Spark's own copy off.
        log = f"/opt/workspace/driver-logs/{app_id}_driver.log"
        ok(cluster.sh(f"grep -F 'Pi is roughly 3.1' {log}"), "the driver log")
        assert ok(cluster.sh(f"stat -c '%u %a' {log}"), "stat").split() == [str(NB_UID), "640"]
        assert cluster.sh(f"test -e /opt/workspace/driver-logs/.{app_id}_driver.log.crc"
                          ).returncode != 0, "Spark persisted a driver log sc-submit keeps"
    finally:
        cluster.sh("crontab -r")


def test_file_saved_in_jupyterlab_belongs_to_the_configured_user(cluster):
    name = f"owned-{uuid.uuid4().hex[:6]}.txt"
    cluster.http("PUT", f"{JUPYTER}/api/contents/notebooks/{name}",
                 {"type": "file", "format": "text", "content": "hello\n"})
    host_path = cluster.notebooks / name
    try:
        st = host_path.stat()
        assert (st.st_uid, st.st_gid) == (NB_UID, NB_GID)
        assert host_path.read_text() == "hello\n"
    finally:
        host_path.unlink(missing_ok=True)


def executor_logs(cluster, app_id):
    """{worker: [executor dir]} of APP's executors, from the workers' work dirs."""
    found = {}
    for worker in ("spark-worker-1", "spark-worker-2"):
        p = cluster.sh(f"ls -d /var/lib/spark/work/{app_id}/*/ 2>/dev/null", container=worker)
        dirs = [d.rstrip("/").rsplit("/", 1)[-1] for d in p.stdout.split()]
        if dirs:
            found[worker] = dirs
    return found


def worker_log(cluster, worker, app_id, executor):
    port = 8081 if worker.endswith("1") else 8082
    url = (f"http://{worker}:{port}/log/?appId={app_id}&executorId={executor}"
           f"&logType=stderr&offset=0&byteLength=1000000")
    return ok(cluster.sh(f"curl -fsS '{url}'"), f"{worker} /log/")


def test_restart_keeps_the_workspace_and_executor_logs(cluster):
    """Last: compose down, then up, and everything users keep is still there:
    the event logs, datain, dataout, and each executor's logs, which the
    worker still serves."""
    app_id = ok(cluster.sh("cat ~/project/app.id"), "app.id from the Makefile test").strip()
    listing = ("ls -R /opt/workspace/events /opt/workspace/datain /opt/workspace/dataout "
               "/opt/workspace/driver-logs")
    before = ok(cluster.sh(listing), "workspace before")
    executors = executor_logs(cluster, app_id)
    assert executors, f"no executor work dir of {app_id} on either worker"
    logs_before = {(w, e): worker_log(cluster, w, app_id, e)
                   for w, es in executors.items() for e in es}
    assert any("Bytes 0-0 of 0" not in text for text in logs_before.values()), logs_before

    cluster.compose("down", "-t", "10")
    cluster.compose("up", "-d")
    cluster.wait_ready()

    assert ok(cluster.sh(listing), "workspace after") == before
    assert executor_logs(cluster, app_id) == executors
    for (w, e), text in logs_before.items():
        assert worker_log(cluster, w, app_id, e) == text, f"{w} {e}: its log changed"
    history_app(cluster, app_id)
