package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/segmentio/kafka-go"
)

const topicsUsage = `Usage:
  longboat topics list     [--brokers B]
  longboat topics create   [--brokers B] --topic T [--partitions 6] [--replication-factor 3] [--config k=v,...]
  longboat topics describe [--brokers B] --topic T
  longboat topics delete   [--brokers B] --topic T
`

// topicsCmd manages topics through the Kafka protocol with kafka-go, like
// kafka-topics.sh.
func topicsCmd(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, topicsUsage)
		return errors.New("missing action")
	}
	action := args[0]
	fs := flag.NewFlagSet("topics "+action, flag.ContinueOnError)
	brokers := fs.String("brokers", "localhost:9092", "comma-separated bootstrap servers")
	topic := fs.String("topic", "", "topic name")
	partitions := fs.Int("partitions", 6, "partitions (create)")
	rf := fs.Int("replication-factor", 3, "replication factor (create)")
	configs := fs.String("config", "", "topic configs k=v,k=v (create)")
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(strings.Split(*brokers, ",")...), Timeout: 30 * time.Second}
	if action != "list" && *topic == "" {
		return errors.New("--topic is required")
	}
	switch action {
	case "list":
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{})
		if err != nil {
			return err
		}
		var names []string
		for _, t := range md.Topics {
			names = append(names, t.Name)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Println(n)
		}
	case "create":
		tc := kafka.TopicConfig{Topic: *topic, NumPartitions: *partitions, ReplicationFactor: *rf}
		for _, kv := range strings.Split(*configs, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
			}
		}
		resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
		if err != nil {
			return err
		}
		if err := resp.Errors[*topic]; err != nil {
			return err
		}
		fmt.Printf("created topic %s: %d partitions, replication factor %d\n", *topic, *partitions, *rf)
	case "describe":
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{*topic}})
		if err != nil {
			return err
		}
		return describeTopics(md)
	case "delete":
		resp, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{*topic}})
		if err != nil {
			return err
		}
		if err := resp.Errors[*topic]; err != nil {
			return err
		}
		fmt.Printf("deleted topic %s\n", *topic)
	default:
		fmt.Fprint(os.Stderr, topicsUsage)
		return fmt.Errorf("unknown action %q", action)
	}
	return nil
}

func describeTopics(md *kafka.MetadataResponse) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\tERROR")
	for _, t := range md.Topics {
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].ID < t.Partitions[j].ID })
		for _, p := range t.Partitions {
			errText := ""
			if p.Error != nil {
				errText = p.Error.Error()
			}
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", t.Name, p.ID, brokerID(p.Leader), brokerIDs(p.Replicas), brokerIDs(p.Isr), errText)
		}
	}
	return w.Flush()
}

func brokerID(b kafka.Broker) string {
	if b.Host == "" {
		return "none"
	}
	return fmt.Sprintf("%d (%s)", b.ID, net.JoinHostPort(b.Host, fmt.Sprint(b.Port)))
}

func brokerIDs(bs []kafka.Broker) string {
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = fmt.Sprint(b.ID)
	}
	return strings.Join(ids, ",")
}
