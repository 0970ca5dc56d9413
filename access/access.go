// Package access is the one place where the role an actor claims meets the
// role its company has stored for it.
//
// An actor reaches a service carrying a role it claims: the role an API key was
// issued with, or the role an embedding application passes. The company keeps
// its members, each with a stored role (records of kind [KindMember]). Every
// service (pools, billing, volume licenses, subscriptions, top-up, the event
// log) and the HTTP adapter compute the role they apply with [EffectiveRole] or
// [Resolve], inside the transaction that reads or changes the data, so a
// demotion takes effect at the next request and a promotion back as well:
//
//   - the system actor (license.SystemEmail) keeps the role it carries;
//   - an actor whose e-mail is a stored member of its company gets the less
//     powerful of its claimed role and the stored role, so a key issued with
//     the Admin role to someone later demoted to Viewer acts as a Viewer, and a
//     key issued with a lower role than its holder's stays lower;
//   - an actor whose e-mail is not a member keeps its claimed role: whoever
//     authenticated it vouches for it (an Owner issued the API key, or the
//     embedding application built the actor). Members are never deleted — the
//     portal has no removal, only role changes — so taking power away from a
//     person means demoting them to Viewer (every key of theirs follows at
//     once) or revoking their keys; a record that could not be read fails the
//     call rather than falling back to the claim.
package access

import (
	"context"
	"strings"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// KindMember is the record kind of company members: Company = Parent = the
// company ID, ID = [MemberID] of the member's e-mail, Data = a [Member].
const KindMember storage.Kind = "member"

// Member is a person with a role in a company.
type Member struct {
	Email string       `json:"email"`
	Role  license.Role `json:"role"`
}

// MemberID is the record ID of the member with the given e-mail: the address
// trimmed and in lower case.
func MemberID(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Rank orders roles from least (1, Viewer) to most (5, Owner) powerful; an
// unknown role ranks 0.
func Rank(r license.Role) int {
	switch r {
	case license.Owner:
		return 5
	case license.Admin:
		return 4
	case license.Editor:
		return 3
	case license.LicenseAdmin:
		return 2
	case license.Viewer:
		return 1
	}
	return 0
}

// Lesser returns the less powerful of a and b.
func Lesser(a, b license.Role) license.Role {
	if Rank(b) < Rank(a) {
		return b
	}
	return a
}

// EffectiveRole returns the role to apply to actor in tx, by the rules of the
// package documentation. It reads at most one member record (never for
// update, so it takes no lock). It returns the validation error of
// actor.Check for a malformed actor, and the store's error when the member
// record cannot be read.
func EffectiveRole(ctx context.Context, tx storage.Tx, actor license.Actor) (license.Role, error) {
	if err := actor.Check(); err != nil {
		return "", err
	}
	if actor.Email == license.SystemEmail {
		return actor.Role, nil
	}
	m, _, err := storage.Load[Member](ctx, tx, actor.Company, KindMember, MemberID(actor.Email), false)
	switch {
	case err == nil:
		return Lesser(actor.Role, m.Role), nil
	case storage.IsNotFound(err):
		return actor.Role, nil
	default:
		return "", err
	}
}

// Resolve returns actor with its Role replaced by its effective role in tx.
func Resolve(ctx context.Context, tx storage.Tx, actor license.Actor) (license.Actor, error) {
	role, err := EffectiveRole(ctx, tx, actor)
	if err != nil {
		return license.Actor{}, err
	}
	actor.Role = role
	return actor, nil
}

// Require resolves actor in tx and checks its effective role with ok. A role
// that fails it is refused with a Forbidden *license.Error (field "role")
// saying "<what> needs <needs>". It returns the resolved actor.
func Require(ctx context.Context, tx storage.Tx, actor license.Actor, ok func(license.Role) bool, what, needs string) (license.Actor, error) {
	eff, err := Resolve(ctx, tx, actor)
	if err != nil {
		return license.Actor{}, err
	}
	if !ok(eff.Role) {
		return license.Actor{}, license.Errorf(license.Forbidden, "role", "%s needs %s; %s acts with the %s role", what, needs, actor.Email, eff.Role)
	}
	return eff, nil
}

// ViewRole is [EffectiveRole] in a read transaction of its own, for callers
// that check access before they open the transaction of the operation (the
// HTTP adapter's early answer). The operation still checks again inside its
// own transaction.
func ViewRole(ctx context.Context, store storage.Store, actor license.Actor) (license.Role, error) {
	if actor.Email == license.SystemEmail {
		return EffectiveRole(ctx, nil, actor) // reads nothing
	}
	var role license.Role
	err := store.View(ctx, func(tx storage.Tx) error {
		var err error
		role, err = EffectiveRole(ctx, tx, actor)
		return err
	})
	return role, err
}

// Update runs fn in one store.Update after checking, with check, the actor's
// effective role in that transaction ([Resolve]): a member demoted since its
// key was issued acts with the stored role at once. Services call it for
// every mutation whose role rule is a plain predicate of the role.
func Update(ctx context.Context, store storage.Store, actor license.Actor, check func(license.Actor) error, fn func(tx storage.Tx) error) error {
	return store.Update(ctx, func(tx storage.Tx) error {
		eff, err := Resolve(ctx, tx, actor)
		if err != nil {
			return err
		}
		if err := check(eff); err != nil {
			return err
		}
		return fn(tx)
	})
}
