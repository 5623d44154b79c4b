package render

// WithoutReply is for the oracle tests, in package render_test.
var WithoutReply = withoutReply
