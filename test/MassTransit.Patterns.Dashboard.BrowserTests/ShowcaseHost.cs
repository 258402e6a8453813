extern alias showcase;

using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using showcase::MassTransit.Patterns.Showcase.Dashboard;
using showcase::MassTransit.Patterns.Showcase.Infrastructure;

namespace MassTransit.Patterns.Dashboard.BrowserTests;

/// <summary>
/// The <c>--dashboard</c> showcase as it runs (every pattern's workload on the in-memory transport, SQLite in a folder of
/// its own), on Kestrel at 127.0.0.1 on a free port, with the <see cref="TestUsers"/> sign-in: the operations actions
/// need the operators policy. The tests read the components' own state from <see cref="Services"/> and compare it with
/// what the pages show.
/// </summary>
public sealed class ShowcaseHost : IAsyncDisposable
{
    public const string Prefix = DashboardShowcase.Prefix;

    readonly WebApplication _app;
    readonly DirectoryInfo _folder;

    ShowcaseHost(WebApplication app, DirectoryInfo folder, Uri baseAddress)
    {
        _app = app;
        _folder = folder;
        BaseAddress = baseAddress;
    }

    /// <summary>http://127.0.0.1:PORT</summary>
    public Uri BaseAddress { get; }

    /// <summary>The console's address: http://127.0.0.1:PORT/patterns</summary>
    public string Console => BaseAddress.ToString().TrimEnd('/') + Prefix;

    /// <summary>The app's container: the running components.</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>Starts the showcase with <paramref name="workloads"/> (default: all of them).</summary>
    public static async Task<ShowcaseHost> StartAsync(IReadOnlyList<IDashboardWorkload>? workloads = null)
    {
        var folder = Directory.CreateTempSubdirectory("mtp-showcase-browser-");
        var context = new ShowcaseContext(ShowcaseOptions.Parse([]), folder.FullName);
        var app = await DashboardShowcase.BuildAsync(context, 0, workloads ?? DashboardShowcase.Workloads(), builder =>
        {
            builder.Services.AddAuthentication(TestUsers.SchemeName).AddScheme<AuthenticationSchemeOptions, TestUsers>(TestUsers.SchemeName, null);
            builder.Services.AddAuthorization(o => o.AddPolicy(TestUsers.OperatorsPolicy, p => p.RequireRole(TestUsers.OperatorRole)));
        }, o =>
        {
            o.Policies.Edit = TestUsers.OperatorsPolicy;
            o.Policies.Resubmit = TestUsers.OperatorsPolicy;
            o.Policies.Discard = TestUsers.OperatorsPolicy;
            o.Policies.Operate = TestUsers.OperatorsPolicy;
            o.OperationsRefreshInterval = TimeSpan.FromMilliseconds(500);
        });
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapPatternsDashboard(Prefix).RequireAuthorization();
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        return new ShowcaseHost(app, folder, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            _folder.Delete(recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
