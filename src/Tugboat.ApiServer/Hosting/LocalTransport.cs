using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Tugboat.ApiServer.Hosting;

/// <summary>
/// The API server's in-process transport: requests from clients in the same process (the controller manager and the
/// scheduler of <c>tug server</c>) go straight into the request pipeline that serves HTTPS (authentication, routing,
/// handlers, streaming watch responses, cancellation), without TLS, sockets or HTTP parsing on either side. Requests
/// carry the client certificate their credentials name, so they are authenticated as the same user they would be over
/// HTTPS. ASP.NET Core's TestHost server provides the pipe; <see cref="Server"/> starts it beside Kestrel with the
/// same application.
/// </summary>
public sealed class LocalTransport
{
    private readonly TestServer _server;

    private LocalTransport(TestServer server) => _server = server;

    /// <summary>A handler for an <see cref="HttpClient"/> whose requests are authenticated by <paramref name="clientCertificate"/>.</summary>
    public HttpMessageHandler CreateHandler(X509Certificate2? clientCertificate) =>
        _server.CreateHandler(http => http.Features.Set<ITlsConnectionFeature>(new TlsConnectionFeature { ClientCertificate = clientCertificate }));

    /// <summary>Makes the host's server Kestrel and the in-process transport together, serving one application.</summary>
    internal static void AddTo(IServiceCollection services)
    {
        var network = services.Last(d => d.ServiceType == typeof(IServer));
        var networkType = network.ImplementationType ?? throw new InvalidOperationException("the host's server is not registered by type");
        services.Remove(network);
        services.AddSingleton(networkType);
        services.AddSingleton(sp => new TestServer(sp, Options.Create(new TestServerOptions { PreserveExecutionContext = false })));
        services.AddSingleton(sp => new LocalTransport(sp.GetRequiredService<TestServer>()));
        services.AddSingleton<IServer>(sp => new Server((IServer)sp.GetRequiredService(networkType), sp.GetRequiredService<TestServer>()));
    }

    /// <summary>Kestrel and the in-process server, started and stopped together.</summary>
    private sealed class Server(IServer network, IServer local) : IServer
    {
        public IFeatureCollection Features => network.Features;

        public async Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
            where TContext : notnull
        {
            await local.StartAsync(application, cancellationToken).ConfigureAwait(false);
            await network.StartAsync(application, cancellationToken).ConfigureAwait(false);
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await network.StopAsync(cancellationToken).ConfigureAwait(false);
            await local.StopAsync(cancellationToken).ConfigureAwait(false);
        }

        // Both servers are the container's, which disposes them.
        public void Dispose()
        {
        }
    }

    private sealed class TlsConnectionFeature : ITlsConnectionFeature
    {
        public X509Certificate2? ClientCertificate { get; set; }

        public Task<X509Certificate2?> GetClientCertificateAsync(CancellationToken cancellationToken) => Task.FromResult(ClientCertificate);
    }
}
