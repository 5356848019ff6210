package acl

import "slices"

// Authorizer decides requests as Kafka's StandardAuthorizer: super users
// may do everything; otherwise a matching DENY wins over any ALLOW, an
// ALLOW of the operation (or of one that implies it, or ALL) grants it, and
// a resource no ACL covers at all is allowed only with
// AllowEveryoneIfNoACLFound.
type Authorizer struct {
	superUsers                map[string]bool
	allowEveryoneIfNoACLFound bool
	indexed                   indexCache
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
// name, under the bindings acls. acls must not change once passed (the
// __meta state replaces its slice on every change): it is indexed once.
func (a *Authorizer) Authorize(acls []Binding, r Request, op Operation, rt ResourceType, name string) bool {
	if a.superUsers[r.Principal] {
		return true
	}
	covered, allowed, denied := false, false, false
	a.indexed.of(acls).applying(rt, name, func(b Binding) bool {
		covered = true
		if !r.matches(b) {
			return true
		}
		switch b.Permission {
		case PermissionDeny:
			// A DENY of READ does not deny DESCRIBE: only the operation
			// itself or ALL.
			if b.Operation == op || b.Operation == OpAll {
				denied = true
				return false
			}
		case PermissionAllow:
			if implies(b.Operation, op) {
				allowed = true
			}
		}
		return true
	})
	switch {
	case denied:
		return false
	case !covered:
		return a.allowEveryoneIfNoACLFound
	}
	return allowed
}

// matches tells whether a binding's principal and host are r's.
func (r Request) matches(b Binding) bool {
	return (b.Principal == r.Principal || b.Principal == "User:"+Wildcard) && (b.Host == r.Host || b.Host == Wildcard)
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
// type rt, as Kafka's Authorizer.authorizeByResourceType (which lets an
// idempotent producer with WRITE on any topic have a producer id): allowed
// when op on a resource of an unused name would be (super users, or no ACL
// covering it with AllowEveryoneIfNoACLFound); otherwise, among r's
// bindings of exactly op or ALL, a DENY of the literal "*" refuses, an
// ALLOW of the literal "*" grants, and any other ALLOW grants unless a
// DENY dominates it: a literal DENY of the same name (for a literal
// ALLOW), or a prefixed DENY of a prefix of its name (for either).
func (a *Authorizer) AuthorizeAny(acls []Binding, r Request, op Operation, rt ResourceType) bool {
	if a.Authorize(acls, r, op, rt, unusedName) {
		return true
	}
	t := a.indexed.of(acls).byType[rt]
	if t == nil {
		return false
	}
	denyLiteral, denyPrefixed := map[string]bool{}, map[string]bool{}
	var allows []Binding
	wildcardAllow := false
	for _, b := range slices.Concat(t.byUser[r.Principal], t.byUser["User:"+Wildcard]) {
		if !r.matches(b) || (b.Operation != op && b.Operation != OpAll) {
			continue
		}
		switch {
		case b.Permission == PermissionDeny && b.Pattern == PatternLiteral && b.Name == Wildcard:
			return false
		case b.Permission == PermissionDeny && b.Pattern == PatternLiteral:
			denyLiteral[b.Name] = true
		case b.Permission == PermissionDeny && b.Pattern == PatternPrefixed:
			denyPrefixed[b.Name] = true
		case b.Permission == PermissionAllow && b.Pattern == PatternLiteral && b.Name == Wildcard:
			wildcardAllow = true
		case b.Permission == PermissionAllow:
			allows = append(allows, b)
		}
	}
	if wildcardAllow {
		return true
	}
	for _, b := range allows {
		if b.Pattern == PatternLiteral && denyLiteral[b.Name] {
			continue
		}
		dominated := false
		for n := 1; n <= len(b.Name) && !dominated; n++ {
			dominated = denyPrefixed[b.Name[:n]]
		}
		if !dominated {
			return true
		}
	}
	return false
}

// unusedName is the resource name AuthorizeAny checks first, as Kafka's
// hard-coded one, so that super users and AllowEveryoneIfNoACLFound grant
// regardless of DENY bindings of other names.
const unusedName = "hardcode"
