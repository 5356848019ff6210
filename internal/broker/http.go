package broker

import (
	"fmt"
	"net/http"
	"time"
)

func (b *Broker) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", b.readyz)
	return mux
}

// readyz answers 200 only when __meta has a leader this replica has caught
// up with, this broker is registered, and every replica it hosts is started
// and has a leader. ?verbose lists each check.
func (b *Broker) readyz(w http.ResponseWriter, r *http.Request) {
	rd := b.Node.CheckReadiness(time.Second)
	status := http.StatusOK
	if !rd.Ready() {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if _, verbose := r.URL.Query()["verbose"]; !verbose {
		fmt.Fprintln(w, http.StatusText(status))
		return
	}
	mark := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAILED"
	}
	fmt.Fprintf(w, "[%s] meta-leader\n", mark(rd.MetaLeader))
	fmt.Fprintf(w, "[%s] meta-caught-up\n", mark(rd.MetaCaughtUp))
	fmt.Fprintf(w, "[%s] broker-registered\n", mark(rd.Registered))
	fmt.Fprintf(w, "[%s] replicas-started %d/%d\n", mark(rd.ReplicasReady == rd.ReplicasTotal), rd.ReplicasReady, rd.ReplicasTotal)
	fmt.Fprintf(w, "[%s] replicas-with-leader %d/%d\n", mark(rd.ReplicasLeader == rd.ReplicasTotal), rd.ReplicasLeader, rd.ReplicasTotal)
	fmt.Fprintln(w, "[ok] kafka-listeners")
	fmt.Fprintln(w, http.StatusText(status))
}
