using Tugboat.Agent.Runtime;
using Tugboat.Agent.Runtimes.Process;

namespace Tugboat.Agent.Tests.Runtime;

public sealed class ProcessRuntimeTests : RuntimeConformanceTests
{
    protected override IContainerRuntime CreateRuntime() => new ProcessRuntime(StateDir);
}
