package cluster

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/durable"
)

// A broker's data directory carries an identity: the cluster it belongs
// to, the node id it was made for and a random incarnation id. Raft trusts
// a replica's log: a broker that came back with an empty directory under
// its old node id would start as a founding member with an empty log and
// vote, and with a stale peer elect a leader that lacks committed entries.
// So before any Raft replica starts, the directory's identity is checked
// against the node id and against what the other initial members report.

const identityFile = "identity.json"

// identity is what a data directory says about whose it is.
type identity struct {
	// ClusterID is empty until this broker has seen __meta name the cluster.
	ClusterID   string `json:"cluster_id,omitempty"`
	NodeID      uint64 `json:"node_id"`
	Incarnation string `json:"incarnation"`
	// DeploymentID is the Raft deployment id this directory's data was
	// written under (see deployment.go); 0 in files from before it.
	DeploymentID uint64 `json:"deployment_id,omitempty"`
	// NewClusterID is the cluster id the brokers of a new cluster agreed
	// on before Raft started, which the first registration proposes; the
	// directory belongs to it only once __meta says so (ClusterID).
	NewClusterID string `json:"new_cluster_id,omitempty"`
}

// IdentityReport is /v1/identity: who a broker is and which brokers its
// __meta holds, so that a starting broker can tell whether it is already a
// member of a cluster.
type IdentityReport struct {
	NodeID      uint64 `json:"node_id"`
	ClusterID   string `json:"cluster_id"` // empty: this broker knows of no cluster
	Incarnation string `json:"incarnation"`
	// Starting is set while the broker runs its own identity check, before
	// it starts Raft; then Brokers is empty.
	Starting bool `json:"starting"`
	// HasData tells that the broker's data directory may hold a cluster's
	// state: while starting, that it is not empty; once running, that it
	// knows a cluster id (a running broker without one has formed no
	// cluster yet, as on a new cluster's first start).
	HasData bool `json:"has_data"`
	// Synced tells that Brokers is __meta as committed (a ReadIndex
	// succeeded), not only as far as this replica has applied.
	Synced bool `json:"synced"`
	// Brokers are the registered brokers: node id -> incarnation.
	Brokers map[uint64]string `json:"brokers"`
	// DeploymentID is the Raft deployment id the broker runs (or will
	// run) with; 0 from brokers of versions before it.
	DeploymentID uint64 `json:"deployment_id,omitempty"`
	// ClusterIDProposal is a starting broker's candidate cluster id when
	// its data directory is empty (a new cluster takes the lowest node
	// id's), or the one a running broker agreed on while __meta has none.
	ClusterIDProposal string `json:"cluster_id_proposal,omitempty"`
}

// emptyIdentityWindow is how long a broker with an empty data directory
// waits for its peers' answers before it decides on what it has heard.
var emptyIdentityWindow = 30 * time.Second

const (
	identityPoll         = 250 * time.Millisecond
	identityAskTimeout   = time.Second
	identitySyncTimeout  = time.Second
	identityProgressEach = 5 * time.Second
)

// randomID is 128 random bits in hex: an incarnation or a cluster id.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// readIdentity returns the data directory's identity, or nil if it has none.
func readIdentity(dataDir string) (*identity, error) {
	path := filepath.Join(dataDir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	var id identity
	if err := json.Unmarshal(b, &id); err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	return &id, nil
}

// writeIdentity replaces the identity file atomically and durably.
func writeIdentity(dataDir string, id identity) error {
	b, _ := json.MarshalIndent(id, "", "  ")
	if err := durable.WriteFile(filepath.Join(dataDir, identityFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write identity: %w", err)
	}
	return nil
}

// identityCheck decides, before any Raft replica starts, whether this data
// directory may start as cfg.NodeID, and returns its identity.
type identityCheck struct {
	cfg    *config.Config
	client peerHTTP
	// server is the identity listener's TLS with --http-tls, else nil.
	server *tls.Config
	window time.Duration
	log    zerolog.Logger
}

func (c identityCheck) run(ctx context.Context) (identity, error) {
	dir := c.cfg.DataDir
	cur, err := readIdentity(dir)
	if err != nil {
		return identity{}, err
	}
	hasData := cur != nil || hasRaftData(dir)
	if cur != nil && cur.NodeID != c.cfg.NodeID {
		return identity{}, fmt.Errorf("data directory %s belongs to node %d (cluster %q), not to --node-id %d: start it as node %d, or give node %d its own data directory",
			dir, cur.NodeID, cur.ClusterID, c.cfg.NodeID, cur.NodeID, c.cfg.NodeID)
	}
	if cur != nil && cur.DeploymentID == 0 {
		if err := c.adoptOnDiskDeployment(cur); err != nil {
			return identity{}, err
		}
	}
	if c.cfg.Join != "" {
		return c.joining(ctx, cur)
	}
	proposal := ""
	if !hasData {
		proposal = randomID()
	}
	peers := c.peers()
	if len(peers) > 0 {
		own := IdentityReport{NodeID: c.cfg.NodeID, Starting: true, HasData: hasData, ClusterIDProposal: proposal}
		if cur != nil {
			own.ClusterID, own.Incarnation, own.DeploymentID = cur.ClusterID, cur.Incarnation, cur.DeploymentID
		}
		stop, err := serveIdentity(c.cfg.HTTPAddr, c.server, own)
		if err != nil {
			return identity{}, err
		}
		defer stop()
	} else if len(c.cfg.InitialMembers) > 1 {
		c.log.Warn().Msg("no --initial-members-http: a broker with an empty data directory cannot ask its peers whether it is already a member")
	}
	switch {
	case cur != nil:
		if err := c.checkPeers(ctx, *cur, peers); err != nil {
			return identity{}, err
		}
		return *cur, nil
	case hasData:
		// A directory from before identity files: it is this broker's own.
		id := identity{NodeID: c.cfg.NodeID, Incarnation: randomID()}
		if err := c.adoptOnDiskDeployment(&id); err != nil {
			return identity{}, err
		}
		c.log.Info().Str("incarnation", id.Incarnation).Msg("data directory adopted an identity")
		return id, nil
	}
	var answers map[uint64]IdentityReport
	if len(peers) > 0 {
		if answers, err = c.awaitFresh(ctx, peers); err != nil {
			return identity{}, err
		}
	}
	id := identity{NodeID: c.cfg.NodeID, Incarnation: randomID()}
	cid, did, why, err := newMemberDeployment(c.cfg.NodeID, proposal, len(peers) > 0 || len(c.cfg.InitialMembers) < 2, answers)
	if err != nil {
		return identity{}, err
	}
	id.NewClusterID, id.DeploymentID = cid, did
	if err := writeIdentity(dir, id); err != nil {
		return identity{}, err
	}
	c.log.Info().Str("incarnation", id.Incarnation).Str("cluster_id", cid).Uint64("deployment_id", did).Str("reason", why).Msg("new data directory: identity written")
	return id, nil
}

// adoptOnDiskDeployment records in id, and in the identity file, the
// deployment id of the Raft data already in the directory: an upgrade
// keeps running under the id its log was written with.
func (c identityCheck) adoptOnDiskDeployment(id *identity) error {
	did, err := onDiskDeploymentID(c.cfg.DataDir)
	if err != nil {
		return err
	}
	id.DeploymentID = did
	return writeIdentity(c.cfg.DataDir, *id)
}

// peers are the other initial members' HTTP addresses.
func (c identityCheck) peers() map[uint64]string {
	out := map[uint64]string{}
	for id, addr := range c.cfg.InitialMembersHTTP {
		if id != c.cfg.NodeID {
			out[id] = c.client.peerURL(addr, c.cfg.InitialMembers[id], "/v1/identity")
		}
	}
	return out
}

// checkPeers asks the peers once whether a directory with an identity
// still belongs: a peer of another cluster, or one whose __meta has this
// node registered under another incarnation, refuses the start. Peers that
// do not answer say nothing (a whole cluster restarting).
func (c identityCheck) checkPeers(ctx context.Context, cur identity, peers map[uint64]string) error {
	for peer, a := range c.ask(ctx, peers) {
		if a.ClusterID != "" && cur.ClusterID != "" && a.ClusterID != cur.ClusterID {
			return fmt.Errorf("data directory %s belongs to cluster %s but node %d is a member of cluster %s: start it with its own cluster's --initial-members, or give it the data directory of node %d of cluster %s",
				c.cfg.DataDir, cur.ClusterID, peer, a.ClusterID, c.cfg.NodeID, a.ClusterID)
		}
		if a.DeploymentID != 0 && a.DeploymentID != cur.DeploymentID {
			return fmt.Errorf("data directory %s runs Raft deployment id %d but node %d runs %d: they are not one cluster; start it with its own cluster's --initial-members",
				c.cfg.DataDir, cur.DeploymentID, peer, a.DeploymentID)
		}
		if inc, ok := a.Brokers[c.cfg.NodeID]; ok && inc != "" && inc != cur.Incarnation {
			return fmt.Errorf("data directory %s holds incarnation %s of node %d but cluster %s registered incarnation %s: this directory is an old copy, and starting from it could lose committed records",
				c.cfg.DataDir, cur.Incarnation, c.cfg.NodeID, a.ClusterID, inc)
		}
	}
	return nil
}

// freshVerdict is what the answers so far say about an empty directory.
type freshVerdict int

const (
	freshWait    freshVerdict = iota // not enough known yet
	freshProceed                     // start as a founding member
	freshRefuse                      // this node is already a member
)

// judgeFresh applies the rule for an empty data directory to the answers
// heard (unreachable peers are absent):
//   - any peer's __meta has this node registered: refuse, the directory
//     was wiped;
//   - a peer whose __meta is synced with its cluster's quorum does not have
//     it: this node never joined (it missed the first start), proceed;
//   - every peer answered and none knows of a cluster or has data: the
//     first start of a new cluster, proceed;
//   - when the window has passed: proceed only if the peers that answered
//     are all fresh and, with this node, form a majority of the initial
//     members (so no quorum with data can exist without this node), else
//     refuse, saying what was heard.
func judgeFresh(self uint64, members int, answers map[uint64]IdentityReport, windowOver bool) (freshVerdict, string) {
	peers := sortedIDs(answers)
	for _, peer := range peers {
		a := answers[peer]
		if _, ok := a.Brokers[self]; ok {
			return freshRefuse, fmt.Sprintf("this broker's data directory is empty but node %d is a member of cluster %s (node %d says so): start a replacement under a new --node-id with --join, then run 'longboat cluster remove-broker %d' (docs/OPERATIONS.md, 'Replace a broker'); to start over, wipe every broker", self, a.ClusterID, peer, self)
		}
	}
	fresh := 0
	var heard []string
	for _, peer := range peers {
		a := answers[peer]
		if a.Synced && a.ClusterID != "" {
			return freshProceed, fmt.Sprintf("node %d's synced __meta of cluster %s does not have node %d", peer, a.ClusterID, self)
		}
		if a.ClusterID == "" && !a.HasData && len(a.Brokers) == 0 {
			fresh++
			heard = append(heard, fmt.Sprintf("node %d: no cluster", peer))
		} else {
			heard = append(heard, fmt.Sprintf("node %d: cluster %q, data %v, synced %v", peer, a.ClusterID, a.HasData, a.Synced))
		}
	}
	summary := strings.Join(heard, "; ")
	if len(heard) == 0 {
		summary = "no peer answered"
	}
	switch {
	case fresh == members-1:
		return freshProceed, "every peer is new"
	case !windowOver:
		return freshWait, summary
	case fresh == len(answers) && 2*(fresh+1) > members:
		return freshProceed, summary
	}
	return freshRefuse, fmt.Sprintf("this broker's data directory is empty and it cannot tell whether node %d is already a cluster member (%s): start the other brokers and try again; a wiped member is replaced under a new --node-id (docs/OPERATIONS.md, 'Replace a broker'), and to start over, wipe every broker", self, summary)
}

func sortedIDs[V any](m map[uint64]V) []uint64 {
	ids := make([]uint64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// awaitFresh polls the peers until judgeFresh lets an empty directory start
// (it returns the answers heard) or refuses it.
func (c identityCheck) awaitFresh(ctx context.Context, peers map[uint64]string) (map[uint64]IdentityReport, error) {
	start := time.Now()
	lastLog := start
	answers := map[uint64]IdentityReport{}
	for {
		for peer, a := range c.ask(ctx, peers) {
			answers[peer] = a
		}
		verdict, why := judgeFresh(c.cfg.NodeID, len(c.cfg.InitialMembers), answers, time.Since(start) >= c.window)
		switch verdict {
		case freshProceed:
			c.log.Info().Str("reason", why).Msg("empty data directory: starting as a new member")
			return answers, nil
		case freshRefuse:
			return nil, errors.New(why)
		}
		if time.Since(lastLog) >= identityProgressEach {
			lastLog = time.Now()
			c.log.Info().Str("heard", why).Msg("empty data directory: waiting for the other initial members")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(identityPoll):
		}
	}
}

// ask gets each peer's identity report at once; peers that do not answer
// are left out.
func (c identityCheck) ask(ctx context.Context, peers map[uint64]string) map[uint64]IdentityReport {
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[uint64]IdentityReport{}
	for peer, url := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := fetchIdentity(ctx, c.client.Client, url)
			if err != nil {
				c.log.Debug().Err(err).Uint64("peer", peer).Msg("identity: peer did not answer")
				return
			}
			mu.Lock()
			out[peer] = a
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func fetchIdentity(ctx context.Context, client *http.Client, url string) (IdentityReport, error) {
	var a IdentityReport
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return a, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return a, fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return a, fmt.Errorf("%s: %w", url, err)
	}
	return a, nil
}

// serveIdentity answers /v1/identity on the broker's HTTP address while
// the check runs (peers starting at the same time ask each other), and
// 503 on anything else; stop frees the address for the broker's server.
// With --http-tls (server non-nil) it speaks HTTPS as the broker will.
func serveIdentity(addr string, server *tls.Config, own IdentityReport) (stop func(), err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("HTTP listener on %s for the identity check: %w", addr, err)
	}
	if server != nil {
		l = tls.NewListener(l, server)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/identity", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(own)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "starting: identity check", http.StatusServiceUnavailable)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// IdentityReport describes this running broker for /v1/identity.
func (n *Node) IdentityReport(ctx context.Context) IdentityReport {
	sctx, cancel := context.WithTimeout(ctx, identitySyncTimeout)
	defer cancel()
	synced := n.SyncMeta(sctx) == nil
	st := n.Meta()
	r := IdentityReport{NodeID: n.cfg.NodeID, ClusterID: st.ClusterID, Incarnation: n.identity.Incarnation,
		Synced: synced, Brokers: make(map[uint64]string, len(st.Brokers)), DeploymentID: n.identity.DeploymentID}
	if r.ClusterID == "" {
		r.ClusterID = n.identity.ClusterID
	}
	if st.ClusterID == "" {
		// A new cluster whose __meta has not formed yet: a broker joining
		// now proposes the same cluster id as this one.
		r.ClusterIDProposal = n.identity.NewClusterID
	}
	r.HasData = r.ClusterID != ""
	for id, b := range st.Brokers {
		r.Brokers[id] = b.Incarnation
	}
	return r
}
