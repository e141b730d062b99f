package dashboard

// PersonBinding lets the tests store a person's session as sign-in would.
var PersonBinding = personBinding
