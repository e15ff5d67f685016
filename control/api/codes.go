package api

// Code is the stable, machine-readable word of an error answer. Clients
// branch on it; the message next to it may change wording at any time.
type Code string

// The codes docs/API.md lists. A code is never renamed or given a new
// meaning; new ones may be added, so a client treats an unknown code by its
// HTTP status.
const (
	// Refusals of the request itself.
	CodeBadRequest Code = "bad_request"  // malformed JSON, an unknown field, a bad header
	CodeBadURL     Code = "bad_url"      // not an absolute http or https URL, or none
	CodeBadName    Code = "bad_name"     // a name staging refuses (the message says which rule)
	CodeNoName     Code = "no_name"      // neither the request nor the origin gives a name
	CodeNameTaken  Code = "name_taken"   // staged, being staged, a folder, or needed as one
	CodeNotFound   Code = "not_found"    // no such file or endpoint
	CodeIsFolder   Code = "is_folder"    // a file operation on a staged folder (unstage it recursively)
	CodeNotIndex   Code = "not_index"    // a folder URL whose page is not HTML or links to nothing under it
	CodeTooMany    Code = "too_many"     // the limit of staged files is reached
	CodeTooLarge   Code = "too_large"    // a request body over the limit
	CodeBadMedia   Code = "bad_media"    // a request body that is not application/json
	CodeBadMethod  Code = "bad_method"   // a method the endpoint does not have
	CodeUnauth     Code = "unauthorized" // a mutation without the right token
	CodeForbidden  Code = "forbidden"    // a mutation from another site's page
	CodeUnstaged   Code = "unstaged"     // unstaged by another request while being staged
	CodeNotFailing Code = "not_failing"  // a retry of a file that is not in error or failed

	// Failures of the origin, of the local disk, or of fsm's own state.
	CodeOriginRefused Code = "origin_refused" // the origin answered with an error status
	CodeOriginSilent  Code = "origin_silent"  // the origin did not answer in time, or at all
	CodeOriginFailed  Code = "origin_failed"  // any other failure to get the file from the origin
	CodeChanged       Code = "changed"        // the origin's file changed since it was staged
	CodeNoSpace       Code = "no_space"       // the cache disk cannot hold the file
	CodeClosed        Code = "closed"         // fsm is shutting down
	CodeInternal      Code = "internal"       // a bug in fsm: the answer could not be encoded
)
