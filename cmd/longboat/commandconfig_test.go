package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/longboat/longboat/internal/testcluster"
	"github.com/longboat/longboat/internal/testutil"
	"github.com/longboat/longboat/internal/tlscert/tlstest"
)

// TestCLICommandConfig runs the CLI against a broker whose EXTERNAL
// listener is SASL_SSL, with Kafka client properties files in librdkafka's
// and the Java client's spellings: topics, produce and consume (also their
// numbered modes) work with them, and without one (or with a wrong
// password) the command fails.
func TestCLICommandConfig(t *testing.T) {
	t.Parallel()
	bin := buildLongboat(t)
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	server := ca.Server(t, "broker1")
	addrs := testcluster.FreeAddrs(t, 2)
	startServe(t, bin, "INTERNAL://"+addrs[0]+",EXTERNAL://"+addrs[1],
		"--listener-security-protocol-map", "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL",
		"--tls-cert-file", server.CertFile, "--tls-key-file", server.KeyFile,
		"--bootstrap-scram-users", "admin:s3cret")

	props := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	librdkafka := props("client.properties", fmt.Sprintf(`# librdkafka spelling
security.protocol=sasl_ssl
sasl.mechanisms=SCRAM-SHA-256
sasl.username=admin
sasl.password=s3cret
ssl.ca.location=%s
client.id=ignored
`, ca.CertFile))
	java := props("java.properties", fmt.Sprintf(`security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="s3cret";
ssl.truststore.type=PEM
ssl.truststore.location=%s
`, ca.CertFile))
	wrong := props("wrong.properties", fmt.Sprintf("security.protocol=SASL_SSL\nsasl.mechanism=PLAIN\nsasl.username=admin\nsasl.password=nope\nssl.ca.location=%s\n", ca.CertFile))
	bs := addrs[1]

	// The topic is created before the broker may have formed its cluster:
	// retry until the create answers.
	testutil.Eventually(t, 60*time.Second, func() error {
		_, errs, code := lb(t, "", "topics", "create", "--bootstrap-server", bs, "--command-config", librdkafka,
			"--topic", "secured", "--partitions", "1", "--replication-factor", "1", "--timeout", "5s")
		if code != 0 && !strings.Contains(errs, "already exists") {
			return fmt.Errorf("exit %d: %s", code, errs)
		}
		return nil
	})
	var listed []struct {
		Topic string `json:"topic"`
	}
	lbJSON(t, &listed, "topics", "list", "--bootstrap-server", bs, "--command-config", java)
	found := false
	for _, l := range listed {
		found = found || l.Topic == "secured"
	}
	if !found {
		t.Fatalf("topics list over SASL_SSL with the Java properties: %+v", listed)
	}
	lbOK(t, "k1:v1\nk2:v2\n", "produce", "--bootstrap-server", bs, "--command-config", java, "--topic", "secured", "--key-separator", ":")
	out := lbOK(t, "", "consume", "--bootstrap-server", bs, "--command-config", librdkafka, "--topic", "secured", "--count", "2", "--format", "%k=%s\n")
	if out != "k1=v1\nk2=v2\n" {
		t.Fatalf("consume over SASL_SSL printed %q", out)
	}
	// The numbered modes, which use kafka-go (the smoke test's).
	lbOK(t, "", "produce", "--bootstrap-server", bs, "--command-config", java, "--topic", "secured", "--records", "50", "--prefix", "numbered")
	lbOK(t, "", "consume", "--bootstrap-server", bs, "--command-config", librdkafka, "--topic", "secured", "--prefix", "numbered", "--expect", "50", "--timeout", "60s")
	lbFails(t, 1, "", "topics", "list", "--bootstrap-server", bs, "--command-config", wrong, "--timeout", "5s")
	lbFails(t, 1, "", "topics", "list", "--bootstrap-server", bs, "--timeout", "3s")
	lbFails(t, 2, "sasl.username", "topics", "list", "--bootstrap-server", bs, "--command-config", props("nouser.properties", "security.protocol=SASL_SSL\n"))
}
