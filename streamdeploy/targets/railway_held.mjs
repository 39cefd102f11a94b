// Read by `streamdeploy up` with `railway config plan --file <this> --json`: a project that declares
// nothing, so the plan's currentGraph shows what the Railway environment already holds.
export default { name: "streamdeploy-read", resources: [] };
