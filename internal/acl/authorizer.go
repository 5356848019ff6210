package acl

// Authorizer decides requests as Kafka's StandardAuthorizer: super users
// may do everything; otherwise a matching DENY wins over any ALLOW, an
// ALLOW of the operation (or of one that implies it, or ALL) grants it, and
// a resource no ACL covers at all is allowed only with
// AllowEveryoneIfNoACLFound.
type Authorizer struct {
	superUsers                map[string]bool
	allowEveryoneIfNoACLFound bool
}

// New returns an authorizer with these super users (principals such as
// User:admin).
func New(superUsers []string, allowEveryoneIfNoACLFound bool) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowEveryoneIfNoACLFound: allowEveryoneIfNoACLFound}
	for _, p := range superUsers {
		a.superUsers[p] = true
	}
	return a
}

// IsSuperUser tells whether principal bypasses the ACLs.
func (a *Authorizer) IsSuperUser(principal string) bool { return a.superUsers[principal] }

// Request is who asks (principal, the client's IP address).
type Request struct {
	Principal string
	Host      string
}

// Authorize tells whether r may do op on the resource of type rt named
// name, under the bindings acls.
func (a *Authorizer) Authorize(acls []Binding, r Request, op Operation, rt ResourceType, name string) bool {
	if a.superUsers[r.Principal] {
		return true
	}
	covered, allowed := false, false
	for _, b := range acls {
		if b.ResourceType != rt || !patternApplies(b, name) {
			continue
		}
		covered = true
		if (b.Principal != r.Principal && b.Principal != "User:"+Wildcard) || (b.Host != r.Host && b.Host != Wildcard) {
			continue
		}
		switch b.Permission {
		case PermissionDeny:
			// A DENY of READ does not deny DESCRIBE: only the operation
			// itself or ALL.
			if b.Operation == op || b.Operation == OpAll {
				return false
			}
		case PermissionAllow:
			if implies(b.Operation, op) {
				allowed = true
			}
		}
	}
	if !covered {
		return a.allowEveryoneIfNoACLFound
	}
	return allowed
}

// implies tells whether an ALLOW of granted grants op: ALL grants every
// operation, READ, WRITE, DELETE and ALTER grant DESCRIBE, and
// ALTER_CONFIGS grants DESCRIBE_CONFIGS.
func implies(granted, op Operation) bool {
	switch {
	case granted == op || granted == OpAll:
		return true
	case op == OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case op == OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

// AuthorizedOperations lists the operations among ops that r may do on
// the resource, as the bit field of Kafka's authorized_operations fields
// (bit n set for operation code n).
func (a *Authorizer) AuthorizedOperations(acls []Binding, r Request, rt ResourceType, name string, ops []Operation) int32 {
	var bits int32
	for _, op := range ops {
		if a.Authorize(acls, r, op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// AuthorizeAny tells whether r may do op on at least some resource of
// type rt (Kafka's authorizeByResourceType, which lets an idempotent
// producer with WRITE on any topic have a producer id): an ALLOW that
// covers it, unless a DENY of the operation covers every name of the type
// (a literal "*" or an empty prefix). A DENY of some names does not stop
// it, since other names stay writable.
func (a *Authorizer) AuthorizeAny(acls []Binding, r Request, op Operation, rt ResourceType) bool {
	if a.superUsers[r.Principal] {
		return true
	}
	covered, allowed := false, false
	for _, b := range acls {
		if b.ResourceType != rt {
			continue
		}
		covered = true
		if (b.Principal != r.Principal && b.Principal != "User:"+Wildcard) || (b.Host != r.Host && b.Host != Wildcard) {
			continue
		}
		switch {
		case b.Permission == PermissionDeny && (b.Operation == op || b.Operation == OpAll) && patternApplies(b, "") && (b.Pattern == PatternPrefixed || b.Name == Wildcard):
			return false
		case b.Permission == PermissionAllow && implies(b.Operation, op):
			allowed = true
		}
	}
	if !covered {
		return a.allowEveryoneIfNoACLFound
	}
	return allowed
}
