package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// replicaHWs asks broker i for the high watermark its partition replicas
// have applied, by shard, on the endpoint leaders use to track their
// followers (/v1/replicas; leader 0 is nobody, so the report it leaves
// there is never read).
func replicaHWs(b Backend, i int) (map[uint64]int64, error) {
	resp, err := httpClient.Post("http://"+b.HTTPAddr(i)+"/v1/replicas", "application/json", bytes.NewReader([]byte(`{"leader":0}`)))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s/v1/replicas: %s", b.HTTPAddr(i), resp.Status)
	}
	var doc struct {
		HW map[uint64]int64 `json:"hw"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	return doc.HW, nil
}

// caughtUp tells whether broker v's replicas hold, on every partition
// shard it hosts, at least what the other brokers held a moment before
// (they are asked first, so under load a follower that keeps up passes).
// Where its peers disagree the highest, the leader's, counts. A shard that
// fewer than replicationFactor other brokers report is one v must host; with
// more brokers than replicas, the others are not v's.
func caughtUp(b Backend, v int) (bool, error) {
	want := map[uint64]int64{}
	hosts := map[uint64]int{}
	for _, i := range allBrokers(b) {
		if i == v {
			continue
		}
		hw, err := replicaHWs(b, i)
		if err != nil {
			return false, err
		}
		for s, o := range hw {
			want[s] = max(want[s], o)
			hosts[s]++
		}
	}
	for s, n := range hosts {
		if n >= replicationFactor(b) {
			delete(want, s)
		}
	}
	have, err := replicaHWs(b, v)
	if err != nil {
		return false, err
	}
	for s, o := range want {
		if h, ok := have[s]; !ok || h < o {
			return false, nil
		}
	}
	return len(want) > 0, nil
}

// measureCatchUp polls until broker v has caught up, from since (its
// restart), for at most limit; it returns how long it took and false when
// it did not within limit or its process exited.
func measureCatchUp(b Backend, v int, since time.Time, limit time.Duration) (time.Duration, bool) {
	pc, _ := b.(ProcessControl)
	for time.Since(since) < limit {
		if pc != nil && !pc.Running(v) {
			return time.Since(since), false // it died again: readiness will say
		}
		if ok, err := caughtUp(b, v); err == nil && ok {
			return time.Since(since), true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return limit, false
}
