#!/bin/busybox sh
# The kernel matrix suite: /init of the initramfs tests/kernels/run boots every kernel of
# kernels.tsv with. Runs as root (PID 1) on busybox and the shipped static binaries, and prints
# one machine-readable line per case on the second serial port (the first carries the kernel's
# console):
#   KABI <abi the shim's startup line reports>
#   KTEST <case> ok
#   KTEST <case> FAIL <why>
#   KDONE <number of cases run>
# The expected ABI comes from the kernel command line (ktest.abi=N, from kernels.tsv), never
# from the kernel itself, so a kernel with another ABI runs the wrong cases and fails them.
#
# To add a case: write a function that prints why it failed and returns non-zero (or returns 0),
# and add one line to CASES below.

/bin/busybox mkdir -p /proc /sys /dev /tmp /srv /etc /run
/bin/busybox --install -s /bin
export PATH=/bin HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# The kernel's own messages (audit records included) stay off the console.
dmesg -n 1
ip link set lo up

OUT=/dev/ttyS1
[ -c "$OUT" ] || OUT=/dev/console
ABI=$(sed -n 's/.*ktest\.abi=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -z "$ABI" ]; then
	echo "KTEST suite FAIL no ktest.abi=N on the kernel command line" >"$OUT"
	echo "KDONE 1" >"$OUT"
	poweroff -f
fi

# name                                ABIs (lo-hi, no hi: and newer)  function
CASES='
startup-line-abi                      0-    case_startup_line_abi
best-effort-granted-read              0-    case_granted_read
best-effort-ungranted-read-denied     1-    case_ungranted_read_denied
best-effort-no-landlock-runs-unrestricted 0-0 case_no_landlock_unrestricted
refer-rename-across-granted-dirs      2-    case_refer
best-effort-partial-below-abi-3       1-2   case_partial_below_3
best-effort-enforced-from-abi-6       6-    case_enforced_from_6
enforce-refuses-without-landlock      0-0   case_enforce_refuses_without_landlock
enforce-refuses-below-abi-3           1-2   case_enforce_refuses_below_3
enforce-runs                          6-    case_enforce_runs
enforce-no-scope-runs                 3-    case_enforce_no_scope_runs
tcp-connect-granted                   4-    case_tcp_connect_granted
tcp-connect-ungranted-denied          4-    case_tcp_connect_denied
tcp-bind-granted                      4-    case_tcp_bind_granted
tcp-bind-ungranted-denied             4-    case_tcp_bind_denied
tcp-rules-dropped-below-abi-4         0-3   case_tcp_dropped_below_4
learn-records-a-read                  0-    case_learn
webhook-review                        0-    case_webhook_review
webhook-serve-self-sandboxed          0-    case_webhook_serve
denials-reporter-reports-a-read       7-    case_denials_reporter
startup-line-claims-only-in-force     0-    case_claims_only_in_force
enforce-scope-required-refused-below-6 1-5  case_scope_required_refused
enforce-scope-required-runs           6-    case_scope_required_runs
udp-send-granted                      10-   case_udp_send_granted
udp-send-ungranted-denied             10-   case_udp_send_denied
udp-bind-granted                      10-   case_udp_bind_granted
udp-bind-ungranted-denied             10-   case_udp_bind_denied
dns-client-udp-53-listed-resolves     10-   case_dns_listed
dns-client-udp-53-unlisted-denied     10-   case_dns_unlisted
udp-rules-dropped-below-abi-10        0-9   case_udp_dropped_below_10
enforce-udp-refused-below-abi-10      1-9   case_enforce_udp_refused
unix-connect-under-write-granted      9-    case_unix_connect_granted
unix-connect-outside-write-denied     9-    case_unix_connect_denied
unix-connect-unrestricted-below-abi-9 1-8   case_unix_connect_below_9
webhook-restricts-all-threads         0-    case_webhook_threads
'

# The shim with nothing granted but the busybox applets (and what the case adds).
shim() {
	landlock-shim --profile none --no-discover --rx /bin "$@"
}

# The startup line in file $1 (the shim's or the webhook's stderr).
startup_line() {
	grep '^{"landlock":' "$1" | head -n 1
}

# Succeeds when the startup line in $1 has "$2":"$3".
line_says() {
	startup_line "$1" | grep -q "\"$2\":\"$3\""
}

# The JSON array $2 of the startup line in $1, e.g. dropped.
line_array() {
	startup_line "$1" | sed -n "s/.*\"$2\":\(\[[^]]*\]\).*/\1/p"
}

# Polls (up to 30 s; the VM is emulated) until command "$@" succeeds.
await() {
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -ge 150 ] && return 1
		sleep 0.2
	done
}

case_startup_line_abi() {
	shim -- true 2>/tmp/err || { echo "shim -- true failed: $(tail -n 1 /tmp/err)"; return 1; }
	got=$(startup_line /tmp/err | sed -n 's/.*"abi":\([0-9]*\).*/\1/p')
	echo "KABI ${got:-none}" >"$OUT"
	[ "$got" = "$ABI" ] || { echo "startup line says abi ${got:-(none)}, kernels.tsv $ABI: $(startup_line /tmp/err)"; return 1; }
}

case_granted_read() {
	out=$(shim --ro /srv/granted -- cat /srv/granted/file 2>/tmp/err)
	[ "$out" = granted ] || { echo "granted file not read: $out $(tail -n 1 /tmp/err)"; return 1; }
}

case_ungranted_read_denied() {
	if shim --ro /srv/granted -- cat /srv/secret >/tmp/out 2>/tmp/err; then
		echo "ungranted /srv/secret was read: $(cat /tmp/out)"
		return 1
	fi
	grep -q 'Permission denied' /tmp/err || { echo "not a Landlock denial: $(tail -n 1 /tmp/err)"; return 1; }
}

case_no_landlock_unrestricted() {
	out=$(shim --ro /srv/granted -- cat /srv/secret 2>/tmp/err)
	[ "$out" = secret ] || { echo "without Landlock the read failed: $out $(tail -n 1 /tmp/err)"; return 1; }
	line_says /tmp/err outcome not-enforced || { echo "outcome is not not-enforced: $(startup_line /tmp/err)"; return 1; }
	line_array /tmp/err dropped | grep -q 'Landlock' || { echo "dropped does not say Landlock is missing: $(startup_line /tmp/err)"; return 1; }
}

case_refer() {
	mkdir -p /tmp/a /tmp/b
	echo moved >/tmp/a/file
	shim --rw /tmp/a --rw /tmp/b -- mv /tmp/a/file /tmp/b/file 2>/tmp/err ||
		{ echo "rename across granted directories failed: $(tail -n 1 /tmp/err)"; return 1; }
	[ "$(cat /tmp/b/file)" = moved ] || { echo "the file did not move"; return 1; }
}

case_partial_below_3() {
	shim --ro /srv/granted -- true 2>/tmp/err || { echo "shim failed: $(tail -n 1 /tmp/err)"; return 1; }
	line_says /tmp/err outcome partially-enforced || { echo "outcome is not partially-enforced: $(startup_line /tmp/err)"; return 1; }
	line_array /tmp/err dropped | grep -q 'truncate' || { echo "dropped does not name truncate: $(startup_line /tmp/err)"; return 1; }
}

case_enforced_from_6() {
	shim --ro /srv/granted -- true 2>/tmp/err || { echo "shim failed: $(tail -n 1 /tmp/err)"; return 1; }
	line_says /tmp/err outcome enforced || { echo "outcome is not enforced: $(startup_line /tmp/err)"; return 1; }
	# Below ABI 9 the only thing missing is resolve_unix (hardening nobody asked for here).
	rest=$(line_array /tmp/err dropped | sed 's/"[^"]*(resolve_unix)[^"]*"//')
	[ "$ABI" -ge 9 ] || [ "$rest" = '[]' ] || { echo "something dropped: $(startup_line /tmp/err)"; return 1; }
	[ "$ABI" -lt 9 ] || [ "$(line_array /tmp/err dropped)" = '[]' ] || { echo "something dropped: $(startup_line /tmp/err)"; return 1; }
}

# enforce refuses with exit 1 and a message naming $1; with and without scoping.
enforce_refuses() {
	for scope in "" --no-scope; do
		shim --mode enforce $scope --ro /srv/granted -- echo ran >/tmp/out 2>/tmp/err
		status=$?
		[ $status = 1 ] || { echo "enforce ${scope:-(scoping)} exited $status, not 1: $(cat /tmp/out) $(tail -n 1 /tmp/err)"; return 1; }
		grep -q "refusing to run.*$1" /tmp/err || { echo "enforce $scope message does not name $1: $(tail -n 1 /tmp/err)"; return 1; }
		[ -s /tmp/out ] && { echo "enforce $scope ran the program"; return 1; }
	done
	return 0
}

case_enforce_refuses_without_landlock() {
	enforce_refuses 'Landlock is not available'
}

case_enforce_refuses_below_3() {
	enforce_refuses 'truncate'
}

# enforce runs the program, which reads its grant and is denied the rest.
enforce_runs() {
	out=$(shim --mode enforce "$@" --ro /srv/granted -- cat /srv/granted/file 2>/tmp/err)
	[ "$out" = granted ] || { echo "enforce $* did not run: $out $(tail -n 1 /tmp/err)"; return 1; }
	line_says /tmp/err outcome enforced || { echo "outcome is not enforced: $(startup_line /tmp/err)"; return 1; }
	if shim --mode enforce "$@" --ro /srv/granted -- cat /srv/secret >/dev/null 2>/tmp/err; then
		echo "enforce $* read the ungranted /srv/secret"
		return 1
	fi
}

case_enforce_runs() {
	enforce_runs
}

case_enforce_no_scope_runs() {
	enforce_runs --no-scope
}

# The listeners the TCP cases connect to, each answering its port number.
start_listeners() {
	for port in 8081 8082; do
		nc -ll -p $port -e echo "port$port" &
	done
	await nc -w 5 127.0.0.1 8081 </dev/null
	await nc -w 5 127.0.0.1 8082 </dev/null
}

case_tcp_connect_granted() {
	out=$(shim --connect-tcp 8081 -- nc -w 5 127.0.0.1 8081 </dev/null 2>/tmp/err)
	[ "$out" = port8081 ] || { echo "granted connect failed: $out $(tail -n 1 /tmp/err)"; return 1; }
	line_says /tmp/err outcome enforced || { echo "outcome is not enforced: $(startup_line /tmp/err)"; return 1; }
}

case_tcp_connect_denied() {
	[ "$(nc -w 5 127.0.0.1 8082 </dev/null)" = port8082 ] || { echo "the listener on 8082 does not answer"; return 1; }
	if out=$(shim --connect-tcp 8081 -- nc -w 5 127.0.0.1 8082 </dev/null 2>/tmp/err); then
		echo "ungranted connect to 8082 worked: $out"
		return 1
	fi
	grep -q 'Permission denied' /tmp/err || { echo "not a Landlock denial: $(tail -n 1 /tmp/err)"; return 1; }
}

case_tcp_bind_granted() {
	shim --bind-tcp 8083 -- nc -l -p 8083 -e echo bound8083 2>/tmp/bind.err &
	pid=$!
	if ! await sh -c '[ "$(nc -w 5 127.0.0.1 8083 </dev/null)" = bound8083 ]'; then
		kill $pid 2>/dev/null
		echo "granted bind on 8083 never answered: $(tail -n 1 /tmp/bind.err)"
		return 1
	fi
	wait $pid
}

case_tcp_bind_denied() {
	timeout 20 sh -c 'exec landlock-shim --profile none --no-discover --rx /bin --bind-tcp 8083 -- nc -l -p 8084' </dev/null >/dev/null 2>/tmp/err
	status=$?
	[ $status = 143 ] && { echo "ungranted bind on 8084 was allowed (nc kept listening)"; return 1; }
	[ $status = 0 ] && { echo "ungranted bind on 8084 was allowed"; return 1; }
	grep -q 'Permission denied' /tmp/err || { echo "not a Landlock denial: $(tail -n 1 /tmp/err)"; return 1; }
}

case_tcp_dropped_below_4() {
	out=$(shim --connect-tcp 8081 -- nc -w 5 127.0.0.1 8082 </dev/null 2>/tmp/err)
	[ "$out" = port8082 ] || { echo "connect without TCP rules failed: $out $(tail -n 1 /tmp/err)"; return 1; }
	line_array /tmp/err dropped | grep -q 'TCP' || { echo "dropped does not name TCP: $(startup_line /tmp/err)"; return 1; }
}

case_learn() {
	out=$(landlock-shim --mode learn --profile none --no-discover -- cat /srv/secret 2>/tmp/err)
	[ "$out" = secret ] || { echo "learn mode did not run the program: $out $(tail -n 1 /tmp/err)"; return 1; }
	grep '^{"landlock-learn":' /tmp/err | grep -q '"read":\["/srv/secret"\]' ||
		{ echo "no learn line suggesting read /srv/secret: $(grep landlock-learn /tmp/err | cut -c 1-300)"; return 1; }
}

case_webhook_review() {
	landlock-webhook review </etc/ktest/review.json >/tmp/out 2>/tmp/err || { echo "review failed: $(tail -n 1 /tmp/err)"; return 1; }
	grep -q '"allowed":true' /tmp/out || { echo "review not allowed: $(cut -c 1-300 /tmp/out)"; return 1; }
	grep -q '"patch":' /tmp/out || { echo "review has no patch: $(cut -c 1-300 /tmp/out)"; return 1; }
}

case_webhook_serve() {
	landlock-webhook serve --listen 127.0.0.1:8443 >/tmp/serve.out 2>/tmp/serve.err &
	pid=$!
	if ! await grep -q '^{"landlock":"landlock-webhook' /tmp/serve.err; then
		kill $pid 2>/dev/null
		echo "no self-sandbox line: $(tail -n 1 /tmp/serve.err)"
		return 1
	fi
	got=$(startup_line /tmp/serve.err | sed -n 's/.*"abi":\([0-9]*\).*/\1/p')
	case $ABI in
	0) want=not-enforced ;;
	[1-5]) want=partially-enforced ;;
	*) want=enforced ;;
	esac
	fail=
	[ "$got" = "$ABI" ] || fail="self-sandbox line says abi $got"
	line_says /tmp/serve.err outcome $want || fail="$fail outcome is not $want: $(startup_line /tmp/serve.err | cut -c 1-200)"
	await grep -q 'serving HTTPS' /tmp/serve.err || fail="$fail not serving: $(tail -n 1 /tmp/serve.err)"
	# A review over HTTPS, answered by the sandboxed server (curl: see tests/kernels/run).
	resp=$(/usr/bin/curl -sk --max-time 20 --data-binary @/etc/ktest/review.json \
		-H 'Content-Type: application/json' https://127.0.0.1:8443/mutate 2>&1)
	case $resp in
	*'"allowed":true'*'"patch":'* | *'"patch":'*'"allowed":true'*) ;;
	*) fail="$fail; POST /mutate over HTTPS: $(echo "$resp" | cut -c 1-200)" ;;
	esac
	kill -0 $pid 2>/dev/null || fail="$fail; the server died: $(tail -n 1 /tmp/serve.err)"
	kill $pid 2>/dev/null
	wait $pid
	[ -z "$fail" ] || { echo "$fail"; return 1; }
}

case_denials_reporter() {
	landlock-webhook denials --no-kube --enable-audit --listen 127.0.0.1:9464 >/tmp/denials.out 2>/tmp/denials.err &
	pid=$!
	if ! await wget -q -O /dev/null http://127.0.0.1:9464/readyz; then
		kill $pid 2>/dev/null
		echo "the agent never got ready: $(tail -n 1 /tmp/denials.err)"
		return 1
	fi
	shim --ro /srv/granted -- cat /srv/secret >/dev/null 2>&1
	fail=
	await grep -q '/srv/secret' /tmp/denials.out ||
		fail="no denial reported for /srv/secret: $(tail -n 1 /tmp/denials.out) $(tail -n 1 /tmp/denials.err)"
	[ -z "$fail" ] && ! grep '/srv/secret' /tmp/denials.out | grep -q 'read' &&
		fail="the report does not name the read: $(grep /srv/secret /tmp/denials.out | cut -c 1-300)"
	kill $pid 2>/dev/null
	wait $pid
	[ -z "$fail" ] || { echo "$fail"; return 1; }
}

# The startup line claims only what is in force: ports where the ABI enforces them, else
# "unrestricted" (and the rule in dropped); scoping only from ABI 6.
case_claims_only_in_force() {
	shim --bind-tcp 8080 --connect-tcp 80 --bind-udp 5353 --connect-udp 53 -- true 2>/tmp/err ||
		{ echo "shim failed: $(tail -n 1 /tmp/err)"; return 1; }
	line=$(startup_line /tmp/err)
	fail=
	if [ "$ABI" -ge 4 ]; then
		echo "$line" | grep -q '"tcp_bind":\[8080\]' || fail="$fail tcp_bind not [8080];"
		echo "$line" | grep -q '"tcp_connect":\[80\]' || fail="$fail tcp_connect not [80];"
	else
		echo "$line" | grep -q '"tcp_bind":"unrestricted"' || fail="$fail tcp_bind claimed below ABI 4;"
		echo "$line" | grep -q '"tcp_connect":"unrestricted"' || fail="$fail tcp_connect claimed below ABI 4;"
	fi
	if [ "$ABI" -ge 10 ]; then
		echo "$line" | grep -q '"udp_bind":\[5353\]' || fail="$fail udp_bind not [5353];"
		echo "$line" | grep -q '"udp_connect":\[53\]' || fail="$fail udp_connect not [53];"
	else
		echo "$line" | grep -q '"udp_bind":"unrestricted"' || fail="$fail udp_bind claimed below ABI 10;"
		echo "$line" | grep -q '"udp_connect":"unrestricted"' || fail="$fail udp_connect claimed below ABI 10;"
		line_array /tmp/err dropped | grep -q UDP || fail="$fail UDP not in dropped;"
	fi
	if [ "$ABI" -ge 6 ]; then
		echo "$line" | grep -q '"scoped":\["signal","abstract-unix-socket"\]' || fail="$fail scoping not claimed;"
	else
		echo "$line" | grep -q '"scoped":\[\]' || fail="$fail scoping claimed below ABI 6;"
	fi
	[ -z "$fail" ] || { echo "$fail $(echo "$line" | cut -c 1-300)"; return 1; }
}

case_scope_required_refused() {
	if shim --mode enforce --scope required -- true 2>/tmp/err; then
		echo "enforce --scope required ran below ABI 6"
		return 1
	fi
	grep -q 'scope required' /tmp/err || { echo "refusal does not name --scope required: $(tail -n 2 /tmp/err)"; return 1; }
}

case_scope_required_runs() {
	shim --mode enforce --scope required -- true 2>/tmp/err ||
		{ echo "enforce --scope required refused: $(tail -n 1 /tmp/err)"; return 1; }
}

# $1: the expected word (ok or EACCES); the rest: the ktest-net call, under the shim flags in $FLAGS.
net_says() {
	want=$1
	shift
	got=$(shim $FLAGS -- ktest-net "$@" 2>/tmp/err)
	[ "$got" = "$want" ] || { echo "ktest-net $* under $FLAGS: $got (want $want) $(tail -n 1 /tmp/err)"; return 1; }
}

case_udp_send_granted() { FLAGS='--connect-udp 5353' net_says ok udp-send 5353; }
case_udp_send_denied() { FLAGS='--connect-udp 5353' net_says EACCES udp-send 5354; }
case_udp_bind_granted() { FLAGS='--bind-udp 5353' net_says ok udp-bind 5353; }
case_udp_bind_denied() { FLAGS='--bind-udp 5353' net_says EACCES udp-bind 5354; }

# A DNS server (unsandboxed) on 127.0.0.1:53 for the DNS client cases: busybox's nslookup is
# the client, as a program's resolver would be, sandboxed with or without UDP 53 listed.
# Started once: its "serving" line, not a marker file, says it is up, so a server that failed to
# start is never taken for one that answers (the unlisted case would then pass for nothing).
dns_server() {
	grep -qs serving /tmp/dns.out && return 0
	ktest-net dns-serve 53 </dev/null >/tmp/dns.out 2>&1 &
	await grep -q serving /tmp/dns.out
}

case_dns_listed() {
	dns_server || { echo "no DNS server: $(cat /tmp/dns.out)"; return 1; }
	got=$(shim --connect-udp 53 -- nslookup ktest.example 127.0.0.1 2>/tmp/err)
	echo "$got" | grep -q '^Address: 127.0.0.1$' ||
		{ echo "nslookup under --connect-udp 53 did not resolve: $got $(tail -n 1 /tmp/err)"; return 1; }
}

case_dns_unlisted() {
	dns_server || { echo "no DNS server: $(cat /tmp/dns.out)"; return 1; }
	if got=$(shim --connect-udp 5353 -- nslookup ktest.example 127.0.0.1 2>&1) &&
		echo "$got" | grep -q '^Address: 127.0.0.1$'; then
		echo "nslookup resolved with only UDP 5353 granted: $got"
		return 1
	fi
	return 0
}

case_udp_dropped_below_10() {
	FLAGS='--connect-udp 5353' net_says ok udp-send 5354 || return 1
	line_array /tmp/err dropped | grep -q UDP || { echo "UDP not in dropped: $(startup_line /tmp/err | cut -c 1-300)"; return 1; }
}

case_enforce_udp_refused() {
	if shim --mode enforce --connect-udp 53 -- true 2>/tmp/err; then
		echo "enforce ran with UDP rules below ABI 10"
		return 1
	fi
	grep -q 'needs Landlock ABI' /tmp/err || { echo "refusal names no ABI: $(tail -n 2 /tmp/err)"; return 1; }
}

# Listeners (unsandboxed) at /srv/ok/s.sock and /srv/no/s.sock for the UNIX socket cases.
unix_listeners() {
	mkdir -p /srv/ok /srv/no
	for d in ok no; do
		# Every descriptor away from the runner's $(...) pipe, or the case never ends.
		[ -S /srv/$d/s.sock ] || { ktest-net unix-listen /srv/$d/s.sock </dev/null >/dev/null 2>&1 & }
	done
	await test -S /srv/ok/s.sock && await test -S /srv/no/s.sock
}

case_unix_connect_granted() {
	unix_listeners || { echo "no listeners"; return 1; }
	FLAGS='--rw /srv/ok --ro /srv/no' net_says ok unix-connect /srv/ok/s.sock
}

case_unix_connect_denied() {
	unix_listeners || { echo "no listeners"; return 1; }
	FLAGS='--rw /srv/ok --ro /srv/no' net_says EACCES unix-connect /srv/no/s.sock
}

case_unix_connect_below_9() {
	unix_listeners || { echo "no listeners"; return 1; }
	FLAGS='--rw /srv/ok --ro /srv/no' net_says ok unix-connect /srv/no/s.sock || return 1
	line_array /tmp/err dropped | grep -q resolve_unix || { echo "resolve_unix not in dropped: $(startup_line /tmp/err | cut -c 1-300)"; return 1; }
}

# The webhook restricts itself while it has one thread, and all threads (TSYNC) from ABI 8.
case_webhook_threads() {
	landlock-webhook serve --listen 127.0.0.1:8444 >/tmp/serve2.out 2>/tmp/serve2.err &
	pid=$!
	await grep -q '^{"landlock":"landlock-webhook' /tmp/serve2.err
	line=$(startup_line /tmp/serve2.err)
	kill $pid 2>/dev/null
	wait $pid
	[ -n "$line" ] || { echo "no self-sandbox line: $(tail -n 1 /tmp/serve2.err)"; return 1; }
	echo "$line" | grep -q '"threads_at_restriction":1' || { echo "not restricted with one thread: $line"; return 1; }
	if [ "$ABI" -ge 8 ]; then want=true; else want=false; fi
	echo "$line" | grep -q "\"all_threads\":$want" || { echo "all_threads is not $want: $(echo "$line" | cut -c 1-300)"; return 1; }
}

# Files the cases read; the webhook needs a resolver configuration and a hosts file at start.
mkdir -p /srv/granted
echo granted >/srv/granted/file
echo secret >/srv/secret
echo 'nameserver 127.0.0.1' >/etc/resolv.conf
echo '127.0.0.1 localhost' >/etc/hosts
start_listeners

echo "KSTART abi=$ABI kernel=$(uname -r) uptime=$(cut -d" " -f1 /proc/uptime)s" >"$OUT"
count=0
while read -r name range fn; do
	case $name in '' | '#'*) continue ;; esac
	lo=${range%-*}
	hi=${range#*-}
	[ -z "$hi" ] && hi=999
	[ "$ABI" -ge "$lo" ] && [ "$ABI" -le "$hi" ] || continue
	count=$((count + 1))
	detail=$($fn 2>&1)
	if [ $? = 0 ]; then
		echo "KTEST $name ok" >"$OUT"
	else
		echo "KTEST $name FAIL $(echo "$detail" | tail -n 1)" >"$OUT"
	fi
done <<EOF
$CASES
EOF
echo "KDONE $count" >"$OUT"
echo "KEND uptime=$(cut -d" " -f1 /proc/uptime)s" >"$OUT"
sync
poweroff -f
