package main

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	kgplain "github.com/segmentio/kafka-go/sasl/plain"
	kgscram "github.com/segmentio/kafka-go/sasl/scram"
)

// kafkaGoSecurity is --command-config for the numbered produce and consume
// modes, which use kafka-go (as the smoke test does): its TLS config and
// SASL mechanism, both nil without a file.
func (c *clientFlags) kafkaGoSecurity() (*tls.Config, sasl.Mechanism, error) {
	if c.commandConfig == "" {
		return nil, nil, nil
	}
	cc, err := readCommandConfig(c.commandConfig)
	if err != nil {
		return nil, nil, usageError{err}
	}
	tlsCfg, err := cc.tlsConfig()
	if err != nil {
		return nil, nil, usagef("--command-config %s: %w", c.commandConfig, err)
	}
	if !strings.HasPrefix(cc.protocol, "SASL_") {
		return tlsCfg, nil, nil
	}
	var mech sasl.Mechanism
	switch cc.mechanism {
	case "PLAIN":
		mech = kgplain.Mechanism{Username: cc.user, Password: cc.password}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := kgscram.SHA256
		if cc.mechanism == "SCRAM-SHA-512" {
			algo = kgscram.SHA512
		}
		if mech, err = kgscram.Mechanism(algo, cc.user, cc.password); err != nil {
			return nil, nil, fmt.Errorf("--command-config %s: %w", c.commandConfig, err)
		}
	default:
		return nil, nil, usagef("--command-config %s: sasl.mechanism=%s: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.commandConfig, cc.mechanism)
	}
	return tlsCfg, mech, nil
}

// kafkaGoTransport is a kafka-go transport with --command-config's
// security; a short metadata TTL finds a new partition leader soon after a
// broker stops.
func (c *clientFlags) kafkaGoTransport() (*kafka.Transport, error) {
	tlsCfg, mech, err := c.kafkaGoSecurity()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{MetadataTTL: 2 * time.Second, TLS: tlsCfg, SASL: mech}, nil
}
