package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// commandConfig is what the CLI reads of a Kafka client properties file
// (--command-config, as Kafka's tools take it). Both spellings are read:
// librdkafka's (ssl.ca.location, sasl.username) and the Java client's
// (ssl.truststore.location with type PEM, sasl.jaas.config). Other keys
// (client.id, acks, ...) are ignored, as Kafka's tools ignore what their
// command does not use.
type commandConfig struct {
	protocol  string // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
	caFile    string
	certFile  string
	keyFile   string
	mechanism string
	user      string
	password  string
}

// jaasOption matches key="value" in a sasl.jaas.config line.
var jaasOption = regexp.MustCompile(`(\w+)\s*=\s*"([^"]*)"`)

func readCommandConfig(path string) (*commandConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--command-config: %w", err)
	}
	defer f.Close()
	c := &commandConfig{protocol: "PLAINTEXT", mechanism: "PLAIN"}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") || strings.HasPrefix(text, "!") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return nil, fmt.Errorf("--command-config %s line %d: want key=value", path, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "security.protocol":
			c.protocol = strings.ToUpper(v)
		case "ssl.ca.location", "ssl.truststore.location":
			c.caFile = v
		case "ssl.truststore.type", "ssl.keystore.type":
			if !strings.EqualFold(v, "PEM") {
				return nil, fmt.Errorf("--command-config %s line %d: %s=%s: only PEM files are read", path, line, k, v)
			}
		case "ssl.certificate.location", "ssl.keystore.location":
			c.certFile = v
		case "ssl.key.location":
			c.keyFile = v
		case "sasl.mechanism", "sasl.mechanisms":
			c.mechanism = strings.ToUpper(v)
		case "sasl.username":
			c.user = v
		case "sasl.password":
			c.password = v
		case "sasl.jaas.config":
			for _, m := range jaasOption.FindAllStringSubmatch(v, -1) {
				switch m[1] {
				case "username":
					c.user = m[2]
				case "password":
					c.password = m[2]
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--command-config %s: %w", path, err)
	}
	switch c.protocol {
	case "PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL":
	default:
		return nil, fmt.Errorf("--command-config %s: security.protocol=%s: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", path, c.protocol)
	}
	if strings.HasPrefix(c.protocol, "SASL_") && (c.user == "" || c.password == "") {
		return nil, fmt.Errorf("--command-config %s: %s needs sasl.username and sasl.password (or sasl.jaas.config with username= and password=)", path, c.protocol)
	}
	return c, nil
}

// opts are the client options the file asks for.
func (c *commandConfig) opts() ([]kgo.Opt, error) {
	var opts []kgo.Opt
	cfg, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if strings.HasPrefix(c.protocol, "SASL_") {
		switch c.mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: c.user, Pass: c.password}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.user, Pass: c.password}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.user, Pass: c.password}.AsSha512Mechanism()))
		default:
			return nil, fmt.Errorf("sasl.mechanism=%s: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.mechanism)
		}
	}
	return opts, nil
}

// tlsConfig is the TLS the file asks for; nil for a protocol without it.
func (c *commandConfig) tlsConfig() (*tls.Config, error) {
	if strings.HasSuffix(c.protocol, "SSL") {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.caFile != "" {
			pem, err := os.ReadFile(c.caFile)
			if err != nil {
				return nil, fmt.Errorf("ssl.ca.location: %w", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("ssl.ca.location %s: no PEM certificate in it", c.caFile)
			}
		}
		if c.certFile != "" {
			key := c.keyFile
			if key == "" { // the Java client's PEM keystore holds both
				key = c.certFile
			}
			cert, err := tls.LoadX509KeyPair(c.certFile, key)
			if err != nil {
				return nil, fmt.Errorf("client certificate %s: %w", c.certFile, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		return cfg, nil
	}
	return nil, nil
}
