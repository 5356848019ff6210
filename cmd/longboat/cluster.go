package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/longboat/longboat/internal/cli"
)

const clusterUsage = `Usage:
  longboat cluster status [--http 127.0.0.1:13092,...]
    brokers, partitions per broker, unhealthy partitions, reassignments in flight
  longboat cluster remove-broker N [--dry-run] [--concurrency 4] [--wait 30m] [--http ...]
    refuse if the other live brokers cannot hold every topic's replication
    factor, or N votes in __meta and no live broker that joined can take its
    vote; else mark N draining, move every partition replica off it, wait
    for __meta to promote another broker in N's place if N votes (progress
    on stderr, summary on stdout), remove it
  longboat cluster rebalance [--dry-run] [--concurrency 4] [--wait 30m] [--http ...]
    print a plan that takes replicas off down and draining brokers and evens
    replicas and preferred leaders over the others, then carry it out
    (--dry-run: print only); moves in progress are left alone
Takes --bootstrap-server (alias --brokers), --output table|json, --timeout and
--command-config. A --http address written https://host:port is asked over
HTTPS (brokers with --http-tls), trusting ssl.ca.location of --command-config.
`

// brokerStatus is one broker's line of cluster status. Reachable is
// whether its Kafka listener accepts a connection from here; ready, version
// and the Raft address come from its HTTP /v1/status, which says what the
// Kafka protocol does not.
type brokerStatus struct {
	ID         int32  `json:"id"`
	Address    string `json:"address"`
	Rack       string `json:"rack,omitempty"`
	Reachable  bool   `json:"reachable"`
	MetaLeader bool   `json:"meta_leader"`
	Leaders    int    `json:"leaders"`
	Replicas   int    `json:"replicas"`
	// MetaRole is voter or non-voting: the initial members vote in
	// __meta, brokers that joined follow it.
	MetaRole string `json:"meta_role,omitempty"`
	// Draining: remove-broker is moving its replicas away; no placement
	// gives it new ones.
	Draining    bool   `json:"draining,omitempty"`
	Ready       *bool  `json:"ready,omitempty"`
	Version     string `json:"version,omitempty"`
	RaftAddr    string `json:"raft_addr,omitempty"`
	HTTPAddress string `json:"http_address,omitempty"`
}

type unhealthyPartition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Leader    int32   `json:"leader"`
	Replicas  []int32 `json:"replicas"`
	ISR       []int32 `json:"isr"`
	Down      []int32 `json:"unreachable_replicas"`
}

type clusterDoc struct {
	ClusterID       string               `json:"cluster_id"`
	MetaLeader      int32                `json:"meta_leader"`
	Brokers         []brokerStatus       `json:"brokers"`
	Topics          int                  `json:"topics"`
	Partitions      int                  `json:"partitions"`
	UnderReplicated []unhealthyPartition `json:"under_replicated"`
	Offline         []unhealthyPartition `json:"offline"`
	HTTPUnreachable []string             `json:"http_unreachable,omitempty"`
	// Reassignments are the partition moves in progress.
	Reassignments []reassignment `json:"reassignments"`
	brokerByID    map[int32]*brokerStatus
}

// reassignment is one partition move in progress, as
// ListPartitionReassignments shows it.
type reassignment struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"`
	Adding    []int32 `json:"adding"`
	Removing  []int32 `json:"removing"`
}

// v1Status is the part of a broker's /v1/status this command reads.
type v1Status struct {
	NodeID     uint64 `json:"node_id"`
	Version    string `json:"version"`
	MetaLeader uint64 `json:"meta_leader"`
	Ready      bool   `json:"ready"`
	RaftAddr   string `json:"raft_addr"`
	// __meta's membership, as this broker reads it.
	MetaVoters    []uint64 `json:"meta_voters"`
	MetaNonVoting []uint64 `json:"meta_non_voting"`
	// MetaVotersWanted is the broker's --meta-voters (0 from a broker
	// older than it).
	MetaVotersWanted int `json:"meta_voters_wanted"`
	// Draining are the brokers remove-broker is emptying.
	Draining []uint64 `json:"draining"`
}

// clusterCmd prints the cluster's brokers and partition health, like
// rpk cluster health plus rpk cluster info.
func clusterCmd(args []string, s *stdio) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(s.out, clusterUsage)
		return nil
	}
	if len(args) > 0 && args[0] == "remove-broker" {
		return removeBroker(args[1:], s)
	}
	if len(args) > 0 && args[0] == "rebalance" {
		return rebalance(args[1:], s)
	}
	if len(args) == 0 || args[0] != "status" {
		fmt.Fprint(s.err, clusterUsage)
		if len(args) == 0 {
			return usagef("missing action")
		}
		return usagef("unknown action %q", args[0])
	}
	fs := flag.NewFlagSet("cluster status", flag.ContinueOnError)
	fs.SetOutput(s.err)
	cf := addClientFlags(fs, defaultAdminTimeout)
	httpAddrs := fs.String("http", "127.0.0.1:13092,127.0.0.1:13093,127.0.0.1:13094",
		"comma-separated HTTP addresses of the brokers (default: longboat dev's), https://host:port for brokers with --http-tls; empty: Kafka API only")
	if done, err := parseFlags(fs, args[1:]); done {
		return err
	}
	ctx, adm, f, done, err := cf.admin()
	if err != nil {
		return err
	}
	defer done()
	md, err := adm.Metadata(ctx)
	if err != nil {
		return cf.explain(err)
	}
	doc := clusterDoc{ClusterID: md.Cluster, MetaLeader: md.Controller, Brokers: []brokerStatus{},
		UnderReplicated: []unhealthyPartition{}, Offline: []unhealthyPartition{}, brokerByID: map[int32]*brokerStatus{}}
	doc.Brokers = make([]brokerStatus, len(md.Brokers))
	for i, b := range md.Brokers {
		doc.Brokers[i] = brokerStatus{ID: b.NodeID, Address: fmt.Sprintf("%s:%d", b.Host, b.Port), MetaLeader: b.NodeID == md.Controller}
		if b.Rack != nil {
			doc.Brokers[i].Rack = *b.Rack
		}
		doc.brokerByID[b.NodeID] = &doc.Brokers[i]
	}
	sort.Slice(doc.Brokers, func(i, j int) bool { return doc.Brokers[i].ID < doc.Brokers[j].ID })
	for i := range doc.Brokers {
		doc.brokerByID[doc.Brokers[i].ID] = &doc.Brokers[i]
	}
	for i := range doc.Brokers {
		doc.Brokers[i].Reachable = reachable(ctx, doc.Brokers[i].Address)
	}
	for _, td := range md.Topics.Sorted() {
		doc.Topics++
		for _, pd := range td.Partitions.Sorted() {
			doc.Partitions++
			u := unhealthyPartition{Topic: td.Topic, Partition: pd.Partition, Leader: pd.Leader, Replicas: pd.Replicas, ISR: pd.ISR}
			if b := doc.brokerByID[pd.Leader]; b != nil {
				b.Leaders++
			}
			for _, r := range pd.Replicas {
				if b := doc.brokerByID[r]; b != nil {
					b.Replicas++
				}
			}
			if pd.Leader < 0 {
				doc.Offline = append(doc.Offline, u)
			} else if u.Down = doc.downReplicas(pd.Replicas); len(pd.ISR) < len(pd.Replicas) || len(u.Down) > 0 {
				doc.UnderReplicated = append(doc.UnderReplicated, u)
			}
		}
	}
	moves, err := adm.ListPartitionReassignments(ctx, md.Topics.TopicsSet())
	if err != nil {
		return cf.explain(err)
	}
	doc.Reassignments = []reassignment{}
	for _, m := range moves.Sorted() {
		doc.Reassignments = append(doc.Reassignments, reassignment{Topic: m.Topic, Partition: m.Partition, Replicas: m.Replicas, Adding: m.AddingReplicas, Removing: m.RemovingReplicas})
	}
	if *httpAddrs != "" {
		hc, err := cf.httpClient()
		if err != nil {
			return err
		}
		doc.addHTTP(ctx, hc, strings.Split(*httpAddrs, ","))
		for _, a := range doc.HTTPUnreachable {
			fmt.Fprintf(s.err, "warning: no /v1/status from %s (set --http to the brokers' HTTP addresses, or --http '' to skip)\n", a)
		}
	}
	return cli.Print(s.out, f, doc, doc.grids()...)
}

// downReplicas are the replicas whose broker does not accept connections.
// Longboat reports every voter of a partition's Raft group in the ISR, so
// an unreachable broker is how a lost replica shows from outside, as the
// brokers' own longboat_under_replicated_partitions counts it.
func (doc *clusterDoc) downReplicas(replicas []int32) []int32 {
	down := []int32{}
	for _, r := range replicas {
		if b := doc.brokerByID[r]; b != nil && !b.Reachable {
			down = append(down, r)
		}
	}
	return down
}

func reachable(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := new(net.Dialer).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// addHTTP asks each address for /v1/status and attaches what it says to
// the broker with that node id.
func (doc *clusterDoc) addHTTP(ctx context.Context, hc *http.Client, addrs []string) {
	for _, a := range addrs {
		st, err := fetchStatus(ctx, hc, a)
		if err != nil {
			doc.HTTPUnreachable = append(doc.HTTPUnreachable, a)
			continue
		}
		b := doc.brokerByID[int32(st.NodeID)]
		if b == nil {
			continue
		}
		ready := st.Ready
		b.Ready, b.Version, b.RaftAddr, b.HTTPAddress = &ready, st.Version, st.RaftAddr, a
		if len(st.MetaVoters) > 0 {
			doc.setMetaRoles(st.MetaVoters, st.MetaNonVoting)
		}
		for _, id := range st.Draining {
			if d := doc.brokerByID[int32(id)]; d != nil {
				d.Draining = true
			}
		}
	}
}

// setMetaRoles marks each broker a voter or a non-voting member of __meta.
func (doc *clusterDoc) setMetaRoles(voters, nonVoting []uint64) {
	for role, ids := range map[string][]uint64{"voter": voters, "non-voting": nonVoting} {
		for _, id := range ids {
			if b := doc.brokerByID[int32(id)]; b != nil {
				b.MetaRole = role
			}
		}
	}
}

// httpClient asks the brokers' HTTP ports: over HTTPS it trusts the CA of
// --command-config (ssl.ca.location) and presents its client certificate,
// as the Kafka connections do; else the system's CAs.
func (c *clientFlags) httpClient() (*http.Client, error) {
	if c.commandConfig == "" {
		return http.DefaultClient, nil
	}
	cc, err := readCommandConfig(c.commandConfig)
	if err != nil {
		return nil, usageError{err}
	}
	cfg, err := cc.tlsConfig()
	if err != nil {
		return nil, usagef("--command-config %s: %w", c.commandConfig, err)
	}
	if cfg == nil {
		return http.DefaultClient, nil
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

// fetchStatus asks addr (host:port, or http:// or https:// with one) for
// /v1/status.
func fetchStatus(ctx context.Context, hc *http.Client, addr string) (*v1Status, error) {
	url := addr + "/v1/status"
	if !strings.HasPrefix(addr, "http://") && !strings.HasPrefix(addr, "https://") {
		url = "http://" + url
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", addr, resp.Status)
	}
	var st v1Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("%s /v1/status: %w", addr, err)
	}
	return &st, nil
}

func (doc *clusterDoc) grids() []*cli.Grid {
	brokers := &cli.Grid{
		Title:  fmt.Sprintf("Cluster %s: %d brokers, %d topics, %d partitions, %d under-replicated, %d offline", doc.ClusterID, len(doc.Brokers), doc.Topics, doc.Partitions, len(doc.UnderReplicated), len(doc.Offline)),
		Header: []string{"ID", "ADDRESS", "UP", "META-LEADER", "META", "LEADERS", "REPLICAS", "READY", "VERSION", "HTTP"},
	}
	for _, b := range doc.Brokers {
		meta, ready := "", "?"
		if b.MetaLeader {
			meta = "*"
		}
		if b.Ready != nil {
			ready = fmt.Sprint(*b.Ready)
		}
		role := b.MetaRole
		if b.Draining {
			role = strings.TrimSpace(role + " draining")
		}
		brokers.Add(b.ID, b.Address, b.Reachable, orDash(meta), orDash(role), b.Leaders, b.Replicas, ready, orDash(b.Version), orDash(b.HTTPAddress))
	}
	grids := []*cli.Grid{brokers}
	for _, set := range []struct {
		title string
		ps    []unhealthyPartition
	}{{"Under-replicated partitions (ISR smaller than replicas, or a replica on an unreachable broker)", doc.UnderReplicated}, {"Offline partitions (no leader)", doc.Offline}} {
		if len(set.ps) == 0 {
			continue
		}
		g := &cli.Grid{Title: set.title, Header: []string{"TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR", "UNREACHABLE"}}
		for _, p := range set.ps {
			g.Add(p.Topic, p.Partition, p.Leader, joinIDs(p.Replicas), joinIDs(p.ISR), orDash(joinIDs(p.Down)))
		}
		grids = append(grids, g)
	}
	if len(doc.Reassignments) > 0 {
		g := &cli.Grid{Title: "Reassignments in flight", Header: []string{"TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"}}
		for _, m := range doc.Reassignments {
			g.Add(m.Topic, m.Partition, joinIDs(m.Replicas), orDash(joinIDs(m.Adding)), orDash(joinIDs(m.Removing)))
		}
		grids = append(grids, g)
	}
	return grids
}
