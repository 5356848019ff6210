package compat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/kafka"
	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// The security matrix: every client of this suite against one broker with
// a listener per security protocol, SASL users in __meta and the ACL
// authorizer on. TestSecurityMatrix writes what it saw to docs/SECURITY.md
// (LONGBOAT_SECURITY_DOC=1) or fails when the committed file differs.
const securityDoc = "../../docs/SECURITY.md"

// secReauth is the broker's --connections-max-reauth-ms; a reauth cell
// pauses secPause between its two halves, past the session's end. It is
// longer than any other cell's connection lives: the broker closes the
// connection of a client without KIP-368 at its first request after the
// session ends, and kcat exits when that happens.
const (
	secReauth = 10 * time.Second
	secPause  = secReauth + 1500*time.Millisecond
)

// Principals and passwords of the run. Each principal may write and read
// only its own topic, so a cell that passes also proves which principal
// the broker gave the connection.
const (
	secUser      = "alice"
	secPassword  = "alice-secret"
	secAdmin     = "admin"
	secAdminPass = "admin-secret"
	secClientCN  = "matrix-client" // the client certificate's CN
	secBrokerCN  = "broker"        // the broker's certificate, also its own clients' principal
)

// Topics, one per principal, and one nobody but the admin may use.
const (
	secTopicAnon   = "secm-anonymous"
	secTopicMTLS   = "secm-mtls"
	secTopicSASL   = "secm-sasl"
	secTopicDenied = "secm-denied"
)

// secRecords is how many records each round trip produces and reads back.
const secRecords = 10

// secRow is one row of the matrix: a listener, how the client connects to
// it, and what the cell does.
type secRow struct {
	id, title string
	kind      string // roundtrip, reauth, auth_fail, no_tls, deny_topic, deny_group, deny_cluster, deny_txn
	listener  string // the broker listener the client dials
	protocol  string // the client's security.protocol
	mechanism string
	user      string
	password  string
	cert      bool  // the client presents the client certificate
	code      int16 // deny rows: the Kafka error code expected
}

var secRows = []secRow{
	{id: "plaintext", title: "PLAINTEXT", kind: "roundtrip", listener: "PLAINTEXT", protocol: "PLAINTEXT"},
	{id: "ssl", title: "SSL, client certificate", kind: "roundtrip", listener: "SSL", protocol: "SSL", cert: true},
	{id: "sasl-plaintext-plain", title: "SASL_PLAINTEXT, PLAIN", kind: "roundtrip", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "PLAIN", user: secUser, password: secPassword},
	{id: "sasl-plaintext-scram-256", title: "SASL_PLAINTEXT, SCRAM-SHA-256", kind: "roundtrip", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "SCRAM-SHA-256", user: secUser, password: secPassword},
	{id: "sasl-plaintext-scram-512", title: "SASL_PLAINTEXT, SCRAM-SHA-512", kind: "roundtrip", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "SCRAM-SHA-512", user: secUser, password: secPassword},
	{id: "sasl-ssl-plain", title: "SASL_SSL, PLAIN", kind: "roundtrip", listener: "SASL_SSL", protocol: "SASL_SSL", mechanism: "PLAIN", user: secUser, password: secPassword},
	{id: "sasl-ssl-scram-256", title: "SASL_SSL, SCRAM-SHA-256", kind: "roundtrip", listener: "SASL_SSL", protocol: "SASL_SSL", mechanism: "SCRAM-SHA-256", user: secUser, password: secPassword},
	{id: "sasl-ssl-scram-512", title: "SASL_SSL, SCRAM-SHA-512", kind: "roundtrip", listener: "SASL_SSL", protocol: "SASL_SSL", mechanism: "SCRAM-SHA-512", user: secUser, password: secPassword},
	{id: "reauth", title: "SASL_SSL, SCRAM-SHA-512, session expires mid-connection (KIP-368)", kind: "reauth", listener: "SASL_SSL", protocol: "SASL_SSL", mechanism: "SCRAM-SHA-512", user: secUser, password: secPassword},
	{id: "wrong-password-plain", title: "wrong password, PLAIN", kind: "auth_fail", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "PLAIN", user: secUser, password: "not-" + secPassword},
	{id: "wrong-password-scram", title: "wrong password, SCRAM-SHA-512 over SASL_SSL", kind: "auth_fail", listener: "SASL_SSL", protocol: "SASL_SSL", mechanism: "SCRAM-SHA-512", user: secUser, password: "not-" + secPassword},
	{id: "unknown-user", title: "unknown user, SCRAM-SHA-256", kind: "auth_fail", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "SCRAM-SHA-256", user: "mallory", password: secPassword},
	{id: "no-tls", title: "PLAINTEXT client on the SSL listener", kind: "no_tls", listener: "SSL", protocol: "PLAINTEXT"},
	{id: "deny-topic", title: "denied: produce to a topic without WRITE", kind: "deny_topic", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "SCRAM-SHA-256", user: secUser, password: secPassword, code: kerr.TopicAuthorizationFailed.Code},
	{id: "deny-group", title: "denied: join a group without READ on it", kind: "deny_group", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "SCRAM-SHA-256", user: secUser, password: secPassword, code: kerr.GroupAuthorizationFailed.Code},
	{id: "deny-cluster", title: "denied: DescribeConfigs of the broker without DESCRIBE_CONFIGS on the cluster", kind: "deny_cluster", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "SCRAM-SHA-256", user: secUser, password: secPassword, code: kerr.ClusterAuthorizationFailed.Code},
	{id: "deny-txn", title: "denied: initialise a transactional id without WRITE on it", kind: "deny_txn", listener: "SASL_PLAINTEXT", protocol: "SASL_PLAINTEXT", mechanism: "SCRAM-SHA-256", user: secUser, password: secPassword, code: kerr.TransactionalIDAuthorizationFailed.Code},
}

// secCell is what a driver runs: one row for one client, with everything
// it needs to connect. The JSON is what the Java and Python drivers read.
type secCell struct {
	ID        string  `json:"id"`
	Lib       string  `json:"lib"`
	Kind      string  `json:"kind"`
	ClientID  string  `json:"client_id"`
	Bootstrap string  `json:"bootstrap"`
	Protocol  string  `json:"protocol"`
	Mechanism string  `json:"mechanism,omitempty"`
	User      string  `json:"user,omitempty"`
	Password  string  `json:"password,omitempty"`
	CAFile    string  `json:"ca_file,omitempty"`
	CertFile  string  `json:"cert_file,omitempty"`
	KeyFile   string  `json:"key_file,omitempty"`
	Keystore  string  `json:"keystore,omitempty"` // cert and key in one PEM file, as Java's PEM keystore wants
	Topic     string  `json:"topic"`
	Group     string  `json:"group"`
	TxnID     string  `json:"txn_id,omitempty"`
	Records   []secKV `json:"records"`
	PauseMs   int64   `json:"pause_ms"`
	TimeoutMs int64   `json:"timeout_ms"`
	row       secRow
}

type secKV struct {
	K string `json:"k"`
	V string `json:"v"`
}

// secResult is a driver's answer: the cell's records read back, or the
// failure with the Kafka error code the client reported (a negative code
// is the client's own, as librdkafka's), or why the client cannot run it.
type secResult struct {
	ID          string  `json:"id"`
	Records     []secKV `json:"records"`
	Code        int     `json:"code"`
	Name        string  `json:"name"`
	Error       string  `json:"error"`
	Unsupported string  `json:"unsupported"`
	// Note is what the doc should say about how the client reported the
	// outcome, when that is not plain.
	Note string `json:"note"`
	Ms   int64  `json:"ms"` // how long the cell took, for the log
	// noAnswer: the driver said nothing of the cell (it crashed or hung).
	noAnswer bool
}

func (r secResult) failed() bool { return r.Error != "" }

// secDriver runs a client's cells and answers each.
type secDriver interface {
	name() string
	version() string
	run(ctx context.Context, cells []*secCell) map[string]secResult
}

// secFiles are the PEM files of the run.
type secFiles struct {
	ca, clientCert, clientKey, clientKeystore string
}

// secObserver records, per client id, which listener, principal and API
// each request the broker decoded had.
type secObserver struct {
	mu   sync.Mutex
	seen map[string][]kafka.ClientRequest
}

func (o *secObserver) observe(r kafka.ClientRequest) {
	if !strings.HasPrefix(r.ClientID, "secm-") {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen[r.ClientID] = append(o.seen[r.ClientID], r)
}

func (o *secObserver) requests(clientID string) []kafka.ClientRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.seen[clientID])
}

// secOutcome is a cell as the doc shows it.
type secOutcome struct {
	text   string // the table cell
	note   string // n/a and known failures: why
	failed bool
}

// secKnownFailures are cells that fail for a reason outside the broker,
// "client/row": reason. Empty: every cell passes.
var secKnownFailures = map[string]string{}

// secEitherWay are cells whose client may end either way for a reason
// outside the broker: "client/row" to the doc's text and note, and the
// error text of the failure the cell accepts besides a pass.
var secEitherWay = map[string]struct{ text, note, failure string }{
	"kcat/reauth": {
		text: "reconnects or exits",
		note: "kcat 1.7.1 on librdkafka 2.0.2, which has no KIP-368 re-authentication: the broker closes the connection at " +
			"the first request after the session ended, as Kafka does. librdkafka reconnects, but kcat exits when that " +
			"leaves no broker connection up (`All broker connections are down: terminating`), which depends on whether " +
			"librdkafka still holds its bootstrap connection; when kcat carries on, its 10 records come back once each",
		failure: "All broker connections are down",
	},
}

func TestSecurityMatrix(t *testing.T) {
	t.Parallel() // its own broker; its Java cells run in their own JVM
	start := time.Now()
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "matrix")
	broker := ca.Peer(t, secBrokerCN) // serves, and is the broker's own clients' identity on INTERNAL
	client := ca.Client(t, secClientCN)
	files := secFiles{ca: ca.CertFile, clientCert: client.CertFile, clientKey: client.KeyFile, clientKeystore: filepath.Join(dir, "client-keystore.pem")}
	var pem []byte
	for _, f := range []string{client.CertFile, client.KeyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	if err := os.WriteFile(files.clientKeystore, pem, 0o600); err != nil {
		t.Fatal(err)
	}

	// Compiling the Java driver takes a while: alongside the broker's start.
	found := make(chan []secDriver, 1)
	go func() { found <- secDrivers(t) }()
	drivers := sync.OnceValue(func() []secDriver { return <-found })
	defer drivers() // a failed start waits for the compiler before the test ends

	free := testcluster.FreeAddrs(t, 4)
	addrs := map[string]string{"PLAINTEXT": free[0], "SSL": free[1], "SASL_PLAINTEXT": free[2], "SASL_SSL": free[3]}
	c := testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: testcluster.ServeFlags(t, func(cfg *config.Config) []string {
		return []string{
			"--listeners", fmt.Sprintf("INTERNAL://%s,PLAINTEXT://%s,SSL://%s,SASL_PLAINTEXT://%s,SASL_SSL://%s",
				cfg.Listeners[0].Addr(), addrs["PLAINTEXT"], addrs["SSL"], addrs["SASL_PLAINTEXT"], addrs["SASL_SSL"]),
			"--listener-security-protocol-map", "INTERNAL:SSL",
			"--tls-cert-file", broker.CertFile, "--tls-key-file", broker.KeyFile,
			"--tls-client-ca-file", ca.CertFile, "--tls-client-auth", config.TLSClientAuthRequested,
			"--sasl-enabled-mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
			"--bootstrap-scram-users", secAdmin + ":" + secAdminPass + "," + secUser + ":" + secPassword,
			"--connections-max-reauth-ms", fmt.Sprint(secReauth.Milliseconds()),
			"--authorizer", "acl", "--super-users", "User:" + secBrokerCN + ";User:" + secAdmin,
		}
	})})
	obs := &secObserver{seen: map[string][]kafka.ClientRequest{}}
	c.Brokers[0].Kafka.SetRequestObserver(obs.observe)
	defer c.Brokers[0].Kafka.SetRequestObserver(nil)
	secSetup(t, addrs["SASL_PLAINTEXT"])
	t.Logf("broker ready and ACLs set after %v", time.Since(start).Round(100*time.Millisecond))

	cells := map[string]map[string]*secCell{} // client -> row -> cell
	var wg sync.WaitGroup
	results := map[string]map[string]secResult{}
	var mu sync.Mutex
	for _, d := range drivers() {
		cells[d.name()] = map[string]*secCell{}
		var list []*secCell
		for _, row := range secRows {
			cell := newSecCell(d.name(), row, addrs, files)
			cells[d.name()][row.id] = cell
			list = append(list, cell)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			began := time.Now()
			res := d.run(ctx, list)
			t.Logf("%s: %d cells in %v", d.name(), len(list), time.Since(began).Round(100*time.Millisecond))
			mu.Lock()
			results[d.name()] = res
			mu.Unlock()
		}()
	}
	wg.Wait()

	outcomes := map[string]map[string]secOutcome{}
	for _, d := range drivers() {
		outcomes[d.name()] = map[string]secOutcome{}
		for _, row := range secRows {
			cell := cells[d.name()][row.id]
			res, ok := results[d.name()][cell.ID]
			if !ok {
				res = secResult{ID: cell.ID, Code: -1, Error: "the driver gave no answer", noAnswer: true}
			}
			key := d.name() + "/" + row.id
			o := judge(cell, res, obs.requests(cell.ClientID))
			if e, ok := secEitherWay[key]; ok && (!o.failed || strings.Contains(res.Error, e.failure)) {
				o = secOutcome{text: e.text, note: e.note}
			}
			t.Logf("%s: %s in %d ms %s", key, o.text, res.Ms, tail(res.Error, 300))
			reason, known := secKnownFailures[key]
			switch {
			case o.failed && known:
				t.Logf("%s: known failure (%s): %s", key, reason, o.note)
				o.note = reason
			case o.failed:
				t.Errorf("%s: %s", key, o.note)
			case known:
				t.Errorf("%s passes but is listed in secKnownFailures (%s): remove it", key, reason)
			}
			outcomes[d.name()][row.id] = o
		}
	}
	t.Logf("security matrix took %v", time.Since(start).Round(100*time.Millisecond))

	doc := renderSecurityDoc(drivers(), outcomes)
	if os.Getenv("LONGBOAT_SECURITY_CLIENTS") != "" {
		t.Logf("only the columns in LONGBOAT_SECURITY_CLIENTS ran: docs/SECURITY.md not checked; this run's:\n%s", doc)
		return
	}
	if os.Getenv("LONGBOAT_SECURITY_DOC") != "" {
		if err := os.WriteFile(securityDoc, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("wrote docs/SECURITY.md")
		return
	}
	committed, err := os.ReadFile(securityDoc)
	if err != nil {
		t.Fatal(err)
	}
	if string(committed) != doc {
		t.Errorf("docs/SECURITY.md differs from this run (regenerate with LONGBOAT_SECURITY_DOC=1 go test ./test/compat -run TestSecurityMatrix); this run's:\n%s", doc)
	}
}

// secSetup creates the topics and grants each principal its own topic (and
// groups under secm-) as the admin, a super user.
func secSetup(t *testing.T, saslAddr string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(saslAddr), kgo.ClientID("matrix-admin"),
		kgo.SASL(scram.Auth{User: secAdmin, Pass: secAdminPass}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topics := []string{secTopicAnon, secTopicMTLS, secTopicSASL, secTopicDenied}
	res, err := adm.CreateTopics(ctx, 1, 1, nil, topics...)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create %v: %v", topics, err)
	}
	for principal, topic := range map[string]string{"User:ANONYMOUS": secTopicAnon, "User:" + secClientCN: secTopicMTLS, "User:" + secUser: secTopicSASL} {
		for _, b := range []*kadm.ACLBuilder{
			kadm.NewACLs().Allow(principal).AllowHosts().Topics(topic).ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead, kadm.OpWrite),
			kadm.NewACLs().Allow(principal).AllowHosts().Groups("secm-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpRead),
		} {
			rs, err := adm.CreateACLs(ctx, b)
			for _, r := range rs {
				if err == nil {
					err = r.Err
				}
			}
			if err != nil {
				t.Fatalf("grant %s: %v", principal, err)
			}
		}
	}
}

// newSecCell fills in the row for one client: its own client id (the
// observer's key), records whose keys carry the cell's id, and the files.
func newSecCell(lib string, row secRow, addrs map[string]string, f secFiles) *secCell {
	id := lib + "/" + row.id
	c := &secCell{
		ID: id, Lib: lib, Kind: row.kind, ClientID: "secm-" + lib + "-" + row.id, Bootstrap: addrs[row.listener],
		Protocol: row.protocol, Mechanism: row.mechanism, User: row.user, Password: row.password,
		Topic: secTopicSASL, Group: "secm-" + lib + "-" + row.id, TimeoutMs: 40_000, row: row,
	}
	switch {
	case row.protocol == "PLAINTEXT":
		c.Topic = secTopicAnon
	case row.cert:
		c.Topic = secTopicMTLS
	}
	if config.UsesTLS(row.protocol) {
		c.CAFile = f.ca
	}
	if row.cert {
		c.CertFile, c.KeyFile, c.Keystore = f.clientCert, f.clientKey, f.clientKeystore
	}
	switch row.kind {
	case "reauth":
		c.PauseMs = secPause.Milliseconds()
		c.TimeoutMs += c.PauseMs
	case "auth_fail":
		c.TimeoutMs = 8_000
	case "no_tls":
		c.TimeoutMs = 5_000 // the Java client waits this long for metadata
	case "deny_topic":
		c.Topic = secTopicDenied
	case "deny_group":
		c.Group = "denied-" + lib
		c.TimeoutMs = 20_000
	case "deny_txn":
		c.TxnID = "denied-" + lib
	}
	salt := make([]byte, 6)
	_, _ = rand.Read(salt)
	for i := range secRecords {
		c.Records = append(c.Records, secKV{K: fmt.Sprintf("%s/%d", id, i), V: fmt.Sprintf("value-%d-%s", i, hex.EncodeToString(salt))})
	}
	return c
}

// Keys of the APIs a client may send before it is authenticated.
const (
	keySaslHandshake    = 17
	keyApiVersions      = 18
	keySaslAuthenticate = 36
)

// judge decides a cell from the client's answer and what the broker saw of
// that client (its requests, by client id).
func judge(c *secCell, r secResult, seen []kafka.ClientRequest) secOutcome {
	o := judgeCell(c, r, seen)
	if !o.failed && o.note == "" {
		o.note = r.Note
	}
	return o
}

func judgeCell(c *secCell, r secResult, seen []kafka.ClientRequest) secOutcome {
	fail := func(format string, args ...any) secOutcome {
		return secOutcome{text: "FAIL", failed: true, note: fmt.Sprintf(format, args...)}
	}
	if r.noAnswer {
		return fail("%s", r.Error)
	}
	if r.Unsupported != "" {
		return secOutcome{text: "n/a", note: r.Unsupported}
	}
	principal := "User:ANONYMOUS"
	switch {
	case c.row.mechanism != "":
		principal = "User:" + c.User
	case c.row.cert:
		principal = "User:" + secClientCN
	}
	// Every request the broker admitted came in on the row's listener.
	for _, req := range seen {
		if req.Listener != c.row.listener {
			return fail("a request (%s) came in on listener %s, not %s", kmsg.NameForKey(req.Key), req.Listener, c.row.listener)
		}
	}
	switch c.Kind {
	case "roundtrip", "reauth":
		if r.failed() {
			return fail("%s (the broker saw %s)", r.Error, apiCounts(seen))
		}
		if err := sameKVs(c.Records, r.Records); err != nil {
			return fail("read back: %v (the broker saw %s)", err, apiCounts(seen))
		}
		for _, key := range []int16{0, 1} { // Produce, Fetch
			n := 0
			for _, req := range seen {
				if req.Key != key {
					continue
				}
				n++
				if req.Principal != principal {
					return fail("%s as %s, want %s", kmsg.NameForKey(key), req.Principal, principal)
				}
			}
			if n == 0 {
				return fail("the broker saw no %s from client id %s", kmsg.NameForKey(key), c.ClientID)
			}
		}
		if c.Kind == "roundtrip" {
			return secOutcome{text: "pass"}
		}
		// A SaslHandshake on a connection that is already authenticated
		// carries the user: a re-authentication (KIP-368). A client without
		// KIP-368 has its connection closed at its first request after the
		// session ended, and authenticates again on a new one.
		for _, req := range seen {
			if req.Key == keySaslHandshake && req.Principal == principal {
				return secOutcome{text: "pass: re-authenticated on its connection"}
			}
		}
		return secOutcome{text: "pass: reconnected (no KIP-368 re-authentication)"}
	case "auth_fail":
		if !r.failed() {
			return fail("the client connected with a bad password or user")
		}
		handshakes := 0
		for _, req := range seen {
			switch {
			case req.Principal != "User:ANONYMOUS":
				return fail("%s admitted as %s", kmsg.NameForKey(req.Key), req.Principal)
			case req.Key == keySaslHandshake:
				handshakes++
			case req.Key != keyApiVersions && req.Key != keySaslAuthenticate:
				return fail("the broker admitted %s before authentication", kmsg.NameForKey(req.Key))
			}
		}
		if handshakes == 0 {
			return fail("the broker saw no SaslHandshake from client id %s (client said: %s)", c.ClientID, r.Error)
		}
		return secOutcome{text: "refused: " + secErrorName(r)}
	case "no_tls":
		if !r.failed() {
			return fail("the client got an answer without TLS")
		}
		if len(seen) > 0 {
			return fail("the broker decoded %d requests without TLS", len(seen))
		}
		return secOutcome{text: "refused"}
	default: // deny_*
		if !r.failed() {
			return fail("not denied")
		}
		if r.Code != int(c.row.code) {
			return fail("error code %d (%s: %s), want %d %s", r.Code, r.Name, r.Error, c.row.code, kerr.TypedErrorForCode(c.row.code).Message)
		}
		return secOutcome{text: "denied: " + secErrorName(r)}
	}
}

// apiCounts summarises requests for a failure's message: how many of each
// API, in the order first seen.
func apiCounts(seen []kafka.ClientRequest) string {
	n := map[int16]int{}
	var order []int16
	for _, r := range seen {
		if n[r.Key] == 0 {
			order = append(order, r.Key)
		}
		n[r.Key]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s x%d", kmsg.NameForKey(k), n[k]))
	}
	if len(parts) == 0 {
		return "no request"
	}
	return strings.Join(parts, ", ")
}

// secErrorName is Kafka's name of a client-reported code, or the client's
// own name for it.
func secErrorName(r secResult) string {
	if r.Code > 0 {
		if e := kerr.TypedErrorForCode(int16(r.Code)); e != kerr.UnknownServerError {
			return fmt.Sprintf("%s (%d)", e.Message, r.Code)
		}
	}
	if r.Code < -1 {
		return fmt.Sprintf("%s (librdkafka's own code %d)", r.Name, r.Code)
	}
	return fmt.Sprintf("%s (the client's exception; no Kafka code)", r.Name)
}

// sameKVs checks got holds exactly want's records, each once.
func sameKVs(want, got []secKV) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d records, want %d", len(got), len(want))
	}
	w := map[string]string{}
	for _, kv := range want {
		w[kv.K] = kv.V
	}
	for _, kv := range got {
		v, ok := w[kv.K]
		if !ok {
			return fmt.Errorf("record %q twice or not sent", kv.K)
		}
		if v != kv.V {
			return fmt.Errorf("record %q has value %q, want %q", kv.K, kv.V, v)
		}
		delete(w, kv.K)
	}
	return nil
}

// renderSecurityDoc writes the matrix as Markdown; nothing in it depends on
// timing, so an unchanged broker and clients reproduce the file.
func renderSecurityDoc(drivers []secDriver, outcomes map[string]map[string]secOutcome) string {
	var b strings.Builder
	b.WriteString("# Security matrix\n\n")
	b.WriteString("Generated by `TestSecurityMatrix` (test/compat/security_matrix_test.go), which CI runs and which fails\n")
	b.WriteString("when this file differs from what it saw: regenerate with\n")
	b.WriteString("`LONGBOAT_SECURITY_DOC=1 go test ./test/compat -run TestSecurityMatrix`; do not edit by hand.\n\n")
	fmt.Fprintf(&b, "One broker with a listener per security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) and an\n")
	fmt.Fprintf(&b, "INTERNAL SSL listener for its own clients; TLS certificates made by the test (one CA, the broker's,\n")
	fmt.Fprintf(&b, "and a client certificate with CN `%s`), `--tls-client-auth requested`, SCRAM users `%s` and\n", secClientCN, secUser)
	fmt.Fprintf(&b, "`%s` created by `--bootstrap-scram-users` (PLAIN checks the same store),\n", secAdmin)
	fmt.Fprintf(&b, "`--connections-max-reauth-ms %d`, and `--authorizer acl` with super users `User:%s` and `User:%s` only.\n", secReauth.Milliseconds(), secBrokerCN, secAdmin)
	fmt.Fprintf(&b, "Each principal may write and read its own topic only (`User:ANONYMOUS` %s, `User:%s` %s,\n", secTopicAnon, secClientCN, secTopicMTLS)
	fmt.Fprintf(&b, "`User:%s` %s) and read groups prefixed `secm-`, so a round trip that passes also shows which\n", secUser, secTopicSASL)
	b.WriteString("principal the broker gave the connection. Every cell is a real client in its own connection.\n\n")
	b.WriteString("| row |")
	for _, d := range drivers {
		fmt.Fprintf(&b, " %s |", d.name())
	}
	b.WriteString("\n| --- |")
	for range drivers {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	var notes []string
	for _, row := range secRows {
		fmt.Fprintf(&b, "| %s |", row.title)
		for _, d := range drivers {
			o := outcomes[d.name()][row.id]
			text := o.text
			if o.note != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", d.name(), row.title, o.note))
				text = fmt.Sprintf("%s [%d]", text, len(notes))
			}
			fmt.Fprintf(&b, " %s |", text)
		}
		b.WriteString("\n")
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&b, "%d. %s\n", i+1, n)
		}
	}
	b.WriteString("\n## Clients\n\n| client | version |\n| --- | --- |\n")
	for _, d := range drivers {
		fmt.Fprintf(&b, "| %s | %s |\n", d.name(), d.version())
	}
	b.WriteString(secRowNotes)
	return b.String()
}

const secRowNotes = `
## What each row checks

- Round trips (PLAINTEXT to SASL_SSL): the client produces 10 records (acks=all) to its
  principal's topic over that listener and reads the topic from its start until it has them all;
  they must come back once each, byte for byte. The broker's request observer must have seen the
  client's Produce and Fetch on that listener as the expected principal: ` + "`User:ANONYMOUS`" + ` on PLAINTEXT,
  ` + "`User:matrix-client`" + ` (the certificate's CN) on SSL, ` + "`User:alice`" + ` on the SASL listeners.
- Session expiry (KIP-368): the broker's sessions last ` + "`--connections-max-reauth-ms`" + `; the client produces
  5 records, waits past the session's end on the same producer, produces 5 more and reads all 10
  back. "re-authenticated" means the broker saw a SaslHandshake on a connection already
  authenticated as alice (the client renewed its session in place); "reconnected" means the
  client has no KIP-368 support: the broker closed its connection at the first request after the
  session ended (without running it) and the client authenticated again on a new one.
- Wrong password, unknown user: the client must fail, and the broker must have admitted nothing
  from it but ApiVersions, SaslHandshake and SaslAuthenticate (an unknown SCRAM user gets the
  same exchange as a known one, with a made-up salt). The cell shows the error the client
  reported: Kafka's code where the client surfaces it.
- PLAINTEXT client on the SSL listener: the client must fail, and the broker must have decoded no
  request from it (the TLS handshake fails on its first bytes).
- Denied rows, as ` + "`User:alice`" + ` over SASL_PLAINTEXT SCRAM-SHA-256: the client must report Kafka's error
  code for the resource type: produce to ` + "`secm-denied`" + ` (no ACL for alice: TOPIC_AUTHORIZATION_FAILED),
  a group consumer in group ` + "`denied-<client>`" + ` (outside her ` + "`secm-`" + ` groups: GROUP_AUTHORIZATION_FAILED),
  DescribeConfigs of broker 1 (CLUSTER_AUTHORIZATION_FAILED), a transactional producer with id
  ` + "`denied-<client>`" + ` (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
- n/a: the client cannot express the operation; the reason given was checked at run time.

## Covered by other tests

- A Raft peer without a valid client certificate cannot join or send:
  ` + "`go test ./internal/cluster -run TestRaftMutualTLSAndDeploymentID`" + ` (three brokers with ` + "`--raft-tls`" + `; a TLS
  client without a certificate or with another CA's is refused at the handshake; a real dragonboat
  node with another CA's certificate never establishes a connection; one with the cluster's
  certificate but another deployment id has its messages dropped; the ` + "`__meta`" + ` term does not move).
- The SASL exchange is fuzzed: ` + "`go test ./internal/sasl -fuzz FuzzExchange`" + ` (arbitrary client tokens for
  every mechanism must never panic nor authenticate without the password; seed corpus in
  internal/sasl/testdata/fuzz, run by every ` + "`go test ./internal/sasl`" + `).
- SASL on the wire with raw requests (handshake versions, requests before authentication, a
  connection whose session expired closed at its next request, re-authentication as another user
  refused): ` + "`go test ./internal/kafka -run 'TestSASL'`" + `; TLS listeners, client certificates required,
  certificates reloaded on SIGHUP: ` + "`go test ./internal/kafka -run 'TestTLS'`" + `; ACLs per API:
  ` + "`go test ./internal/kafka -run 'TestACLs'`" + `.
`

// secDrivers lists the clients this machine can run; one that is missing
// is left out with a log line, or fails the test with
// LONGBOAT_REQUIRE_CLIENTS set (CI).
func secDrivers(t *testing.T) []secDriver {
	out := []secDriver{&secFranz{}, &secSarama{}}
	if k, err := newSecKcat(); err == nil {
		out = append(out, k)
	} else {
		leftOut(t, err.Error())
	}
	if j, err := newSecJava(); err == nil {
		out = append(out, j)
	} else {
		leftOut(t, "java: "+err.Error())
	}
	py := newSecPython()
	for _, lib := range []string{"confluent-kafka", "kafka-python"} {
		if v := py.versions[lib]; v != "" {
			out = append(out, &secPythonLib{py: py, lib: lib, ver: v})
		} else {
			leftOut(t, fmt.Sprintf("%s not installed (apt-get install python3-%s)", lib, map[string]string{"confluent-kafka": "confluent-kafka", "kafka-python": "kafka"}[lib]))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return secOrder(out[i].name()) < secOrder(out[j].name()) })
	if only := os.Getenv("LONGBOAT_SECURITY_CLIENTS"); only != "" {
		out = slices.DeleteFunc(out, func(d secDriver) bool { return !slices.Contains(strings.Split(only, ","), d.name()) })
	}
	for _, d := range out {
		if _, ok := d.(*secPythonLib); ok {
			py.columns++
		}
	}
	return out
}

func secOrder(name string) int {
	return slices.Index([]string{"franz-go", "sarama", "kcat", "java", "confluent-kafka", "kafka-python"}, name)
}
