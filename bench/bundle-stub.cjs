// An inert stand-in for the modules the agent never calls (ssh2: ssh:// Docker hosts; @grpc/*, protobufjs:
// BuildKit sessions), for the experimental bundle of bench/make-bundle.sh: every access returns itself.
const f = new Proxy(function () {}, { get: (t, k) => (k === Symbol.toPrimitive ? () => '' : f), apply: () => f, construct: () => f }); module.exports = f;
