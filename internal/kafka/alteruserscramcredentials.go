package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/sasl"
)

func init() { handles(0, 0, (*Server).alterUserScramCredentials) }

// alterUserScramCredentials takes salted passwords (the client salts, as
// Kafka's protocol has it) and stores salt, iterations, StoredKey and
// ServerKey. A user with any invalid alteration gets the error and none
// of its alterations; the other users' are applied together.
func (s *Server) alterUserScramCredentials(ctx context.Context, req *request, body *kmsg.AlterUserSCRAMCredentialsRequest) kmsg.Response {
	resp := kmsg.NewPtrAlterUserSCRAMCredentialsResponse()
	resp.SetVersion(req.version)
	type userAlter struct {
		code      int16
		msg       string
		upserts   []meta.ScramUpsert
		deletions []meta.ScramDeletion
	}
	var order []string
	users := map[string]*userAlter{}
	seen := map[[2]string]bool{}
	get := func(name string) *userAlter {
		if u, ok := users[name]; ok {
			return u
		}
		u := &userAlter{}
		users[name] = u
		order = append(order, name)
		return u
	}
	failUser := func(u *userAlter, code int16, format string, args ...any) {
		if u.code == 0 {
			u.code, u.msg = code, fmt.Sprintf(format, args...)
		}
	}
	st := s.linearMeta(ctx)
	denied := !s.authorizeCluster(req, acl.OpAlter)
	check := func(name string, mech int8) (*userAlter, string) {
		u := get(name)
		m, ok := scramMechanismIDs[mech]
		switch {
		case denied:
			failUser(u, kerr.ClusterAuthorizationFailed.Code, "Authorization failed.")
		case name == "":
			failUser(u, kerr.UnacceptableCredential.Code, "Username must not be empty")
		case !ok:
			failUser(u, kerr.UnsupportedSaslMechanism.Code, "Unknown SCRAM mechanism %d", mech)
		case seen[[2]string{name, m}]:
			failUser(u, kerr.DuplicateResource.Code, "A user credential cannot be altered twice in the same request")
		}
		seen[[2]string{name, m}] = true
		return u, m
	}
	for _, d := range body.Deletions {
		u, m := check(d.Name, d.Mechanism)
		if _, exists := st.ScramCredential(d.Name, m); m != "" && !exists {
			failUser(u, kerr.ResourceNotFound.Code, "Attempt to delete a user credential that does not exist")
		}
		u.deletions = append(u.deletions, meta.ScramDeletion{User: d.Name, Mechanism: m})
	}
	for _, up := range body.Upsertions {
		u, m := check(up.Name, up.Mechanism)
		switch {
		case up.Iterations < sasl.MinIterations || up.Iterations > sasl.MaxIterations:
			failUser(u, kerr.UnacceptableCredential.Code, "Iterations must be %d..%d, not %d", sasl.MinIterations, sasl.MaxIterations, up.Iterations)
		case len(up.Salt) == 0 || len(up.SaltedPassword) == 0:
			failUser(u, kerr.UnacceptableCredential.Code, "Salt and salted password must not be empty")
		}
		if u.code != 0 {
			continue
		}
		cred, err := sasl.FromSaltedPassword(m, up.Salt, up.SaltedPassword, int(up.Iterations))
		if err != nil {
			failUser(u, kerr.UnsupportedSaslMechanism.Code, "%v", err)
			continue
		}
		u.upserts = append(u.upserts, meta.ScramUpsert{User: up.Name, Mechanism: m, Credential: cred})
	}
	cmd := &meta.AlterScram{}
	for _, name := range order {
		if u := users[name]; u.code == 0 {
			cmd.Upserts = append(cmd.Upserts, u.upserts...)
			cmd.Deletions = append(cmd.Deletions, u.deletions...)
		}
	}
	var proposeErr error
	if len(cmd.Upserts)+len(cmd.Deletions) > 0 {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, proposeErr = s.node.ProposeMeta(pctx, meta.Command{AlterScram: cmd})
		cancel()
	}
	for _, name := range order {
		u := users[name]
		r := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		r.User = name
		switch {
		case u.code != 0:
			r.ErrorCode, r.ErrorMessage = u.code, &u.msg
		case proposeErr != nil:
			code, msg := metaErrorCode(proposeErr)
			r.ErrorCode, r.ErrorMessage = code, &msg
		}
		resp.Results = append(resp.Results, r)
	}
	return resp
}
