package topicconfig

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// rule parses and checks one config value the way Kafka's ConfigDef
// does: surrounding spaces trimmed, the type parsed, then the validator.
type rule struct {
	valid string // Kafka's "Valid Values" text
	// check returns the value as Kafka prints it back, or why it is refused.
	check func(name, v string, b BrokerDefaults) (string, error)
}

// invalid is Kafka's ConfigException message.
func invalid(name, v, why string) error {
	//lint:ignore ST1005 Kafka's own message, which clients print as it is
	return fmt.Errorf("Invalid value %s for configuration %s: %s", v, name, why)
}

// number parses an integer of the given bit size (32: Kafka INT, 64: LONG)
// within [bounds[0], bounds[1]] where given.
func number(bits int, kind string, bounds ...int64) rule {
	return rule{valid: rangeText(bounds...), check: func(name, v string, _ BrokerDefaults) (string, error) {
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			return "", invalid(name, v, "Not a number of type "+kind)
		}
		if why := outside(n, bounds...); why != "" {
			return "", invalid(name, v, why)
		}
		return strconv.FormatInt(n, 10), nil
	}}
}

func ints(bounds ...int64) rule  { return number(32, "INT", bounds...) }
func longs(bounds ...int64) rule { return number(64, "LONG", bounds...) }

// outside is Kafka's Range message for n outside [bounds[0], bounds[1]].
func outside(n int64, bounds ...int64) string {
	switch {
	case len(bounds) > 0 && n < bounds[0]:
		return fmt.Sprintf("Value must be at least %d", bounds[0])
	case len(bounds) > 1 && n > bounds[1]:
		return fmt.Sprintf("Value must be no more than %d", bounds[1])
	}
	return ""
}

func rangeText(bounds ...int64) string {
	switch len(bounds) {
	case 0:
		return ""
	case 1:
		return fmt.Sprintf("[%d,...]", bounds[0])
	}
	return fmt.Sprintf("[%d,...,%d]", bounds[0], bounds[1])
}

// segmentBytes is Kafka's segment.bytes (an INT of at least 1 MiB) with
// the minimum the broker allows.
func segmentBytes() rule {
	return rule{valid: rangeText(KafkaMinSegmentBytes), check: func(name, v string, b BrokerDefaults) (string, error) {
		return ints(b.minSegmentBytes()).check(name, v, b)
	}}
}

func gzipLevel() rule {
	return rule{valid: "[1,...,9] or -1", check: func(name, v string, b BrokerDefaults) (string, error) {
		s, err := ints().check(name, v, b)
		if err != nil {
			return "", err
		}
		if n, _ := strconv.Atoi(s); n != -1 && (n < 1 || n > 9) {
			return "", invalid(name, v, "Value must be between 1 and 9 or -1")
		}
		return s, nil
	}}
}

// ratio is a DOUBLE in [0, 1].
func ratio() rule {
	return rule{valid: "[0,...,1]", check: func(name, v string, _ BrokerDefaults) (string, error) {
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil || math.IsNaN(f):
			return "", invalid(name, v, "Not a number of type DOUBLE")
		case f < 0:
			return "", invalid(name, v, "Value must be at least 0")
		case f > 1:
			return "", invalid(name, v, "Value must be no more than 1")
		}
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0" // as Java prints a double
		}
		return s, nil
	}}
}

func boolean() rule {
	return rule{valid: "[true, false]", check: func(name, v string, _ BrokerDefaults) (string, error) {
		switch strings.ToLower(v) {
		case "true":
			return "true", nil
		case "false":
			return "false", nil
		}
		return "", invalid(name, v, "Expected value to be either true or false")
	}}
}

// remoteStorage is remote.storage.enable on a broker without tiered
// storage: false is the only value it can hold.
func remoteStorage() rule {
	return rule{check: func(name, v string, b BrokerDefaults) (string, error) {
		s, err := boolean().check(name, v, b)
		if err == nil && s == "true" {
			return "", fmt.Errorf("%s", errRemoteStorage)
		}
		return s, err
	}}
}

// oneOf is a STRING from a fixed set, compared as Kafka does: case and all.
func oneOf(values ...string) rule {
	return rule{valid: "[" + strings.Join(values, ", ") + "]", check: func(name, v string, _ BrokerDefaults) (string, error) {
		if !slices.Contains(values, v) {
			return "", invalid(name, v, "String must be one of: "+strings.Join(values, ", "))
		}
		return v, nil
	}}
}

// splitList splits a LIST value as Kafka does: empty is the empty list,
// otherwise every comma separates an item (an empty item included).
func splitList(v string) []string {
	if v == "" {
		return nil
	}
	items := strings.Split(v, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items
}

// listOf is a LIST whose every item is one of values.
func listOf(values ...string) rule {
	item := oneOf(values...)
	return rule{valid: item.valid, check: func(name, v string, b BrokerDefaults) (string, error) {
		items := splitList(v)
		for _, it := range items {
			if _, err := item.check(name, it, b); err != nil {
				return "", err
			}
		}
		return strings.Join(items, ","), nil
	}}
}

var replicaRE = regexp.MustCompile(`^([0-9]+:[0-9]+)?$`)

// throttledReplicas is Kafka's ThrottledReplicaListValidator: * or
// partition:broker items.
func throttledReplicas() rule {
	const valid = "[partitionId]:[brokerId],[partitionId]:[brokerId],..."
	return rule{valid: valid, check: func(name, v string, _ BrokerDefaults) (string, error) {
		items := splitList(v)
		if strings.Join(items, "") == "*" {
			return "*", nil
		}
		for _, it := range items {
			if !replicaRE.MatchString(it) {
				return "", invalid(name, v, name+" must be the literal '*' or a list of replicas in the following format: "+valid)
			}
		}
		return strings.Join(items, ","), nil
	}}
}
