package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

// TestACLsReplicated: ACLs created through one broker are described the
// same by every broker, and again after every broker restarted.
func TestACLsReplicated(t *testing.T) {
	t.Parallel()
	c := testcluster.Start(t, testcluster.Options{Nodes: 3, Adjust: func(cfg *config.Config) {
		cfg.Authorization = config.Authorization{Authorizer: config.AuthorizerACL, SuperUsers: []string{"User:ANONYMOUS"}}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	newClient := func() *kgo.Client {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.RequestRetries(5))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	cl := newClient()
	create := kmsg.NewPtrCreateACLsRequest()
	for i, name := range []string{"orders", "logs-"} {
		cr := kmsg.NewCreateACLsRequestCreation()
		cr.ResourceType, cr.ResourceName, cr.ResourcePatternType = kmsg.ACLResourceTypeTopic, name, kmsg.ACLResourcePatternType(3+i)
		cr.Principal, cr.Host, cr.Operation, cr.PermissionType = "User:alice", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
		create.Creations = append(create.Creations, cr)
	}
	resp, err := create.RequestWith(ctx, cl.Broker(int(c.Configs[0].NodeID)))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Results {
		if r.ErrorCode != 0 {
			t.Fatalf("create: error %d", r.ErrorCode)
		}
	}
	want := []string{"2 logs- 4 User:alice * 3 3", "2 orders 3 User:alice * 3 3"}
	describeEach := func(when string) {
		for i := range c.Configs {
			req := kmsg.NewPtrDescribeACLsRequest()
			req.ResourceType, req.ResourcePatternType, req.Operation, req.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			resp, err := req.RequestWith(ctx, cl.Broker(int(c.Configs[i].NodeID)))
			if err != nil || resp.ErrorCode != 0 {
				t.Fatalf("%s: describe on broker %d: %v %+v", when, i+1, err, resp)
			}
			var got []string
			for _, r := range resp.Resources {
				for _, a := range r.ACLs {
					got = append(got, fmt.Sprintf("%d %s %d %s %s %d %d", r.ResourceType, r.ResourceName, r.ResourcePatternType, a.Principal, a.Host, a.Operation, a.PermissionType))
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("%s: broker %d describes %q, want %q", when, i+1, got, want)
			}
		}
	}
	describeEach("after create")
	for i := range c.Configs {
		c.StopBroker(i)
	}
	for i := range c.Configs {
		c.StartBroker(i)
	}
	c.WaitReady(60 * time.Second)
	cl = newClient() // the old one's connections died with the brokers
	describeEach("after restarting every broker")
}
