using System.Net;
using MassTransit.Patterns.Dashboard;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.EntityFrameworkCore.Sagas;
using MassTransit.Patterns.Showcase.Dashboard.Workloads;
using MassTransit.Patterns.Showcase.Infrastructure;
using MassTransit.Patterns.Showcase.Scenarios;
using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace MassTransit.Patterns.Showcase.Dashboard;

/// <summary>
/// <c>--dashboard</c>: every pattern's workload kept running in one app (<see cref="Workloads"/>: invoices with bad ones
/// among them, bursts for the supervisor, ...) and the console served on http://127.0.0.1:5080/patterns: the repair
/// console and the operations view of each pattern, and the patterns' and MassTransit's metrics for Prometheus at
/// <see cref="MetricsPath"/>. On the chosen transport, with SQLite for what is stored. Ctrl+C
/// stops it. <see cref="Build"/> builds the same app for the browser tests (port 0: a free one).
/// </summary>
public static class DashboardShowcase
{
    public const int Port = 5080;
    public const string Prefix = "/patterns";
    public const string Queue = WorkflowWorkload.Queue;
    public const string RepairQueue = WorkflowWorkload.RepairQueue;

    /// <summary>The Prometheus scrape endpoint, on the same loopback Kestrel as the console.</summary>
    public const string MetricsPath = "/metrics";
    public const string HealthPath = "/health";

    /// <summary>Every pattern's workload, in the order their pages show.</summary>
    public static IReadOnlyList<IDashboardWorkload> Workloads() =>
    [
        new SupervisorWorkload(),
        new ControlFlowWorkload(),
        new AmbulanceWorkload(),
        new ThreadDelegateWorkload(),
        new ContextualWorkload(),
        new WatchWorkload(),
        new MultibrokerWorkload(),
        new EventForwardingWorkload(),
        new WorkflowWorkload()
    ];

    /// <summary>
    /// The showcase app, not started: Kestrel on 127.0.0.1:<paramref name="port"/> (0: a free port), the workloads, and the
    /// console at <see cref="Prefix"/>. <paramref name="customize"/> runs last on the builder (tests add sign-in there).
    /// </summary>
    public static async Task<WebApplication> BuildAsync(ShowcaseContext context, int port, IReadOnlyList<IDashboardWorkload> workloads,
        Action<WebApplicationBuilder>? customize = null, Action<PatternsDashboardOptions>? dashboard = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(DashboardShowcase).Assembly.GetName().Name,
            EnvironmentName = Environments.Production
        });
        // Loopback only: the console changes messages and behaviour, and the showcase has no sign-in.
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        builder.Logging.ClearProviders()
            .AddSimpleConsole(o => o.SingleLine = true)
            .SetMinimumLevel(LogLevel.Warning)
            .AddFilter("MassTransit", LogLevel.Error)
            // A body that is not JSON is logged by the receive transport as a fault on its way to the repair saga,
            // where the console shows it: one line per malformed invoice would only repeat that.
            .AddFilter("MassTransit.ReceiveTransport", LogLevel.Critical);

        var services = builder.Services;
        services.AddMetrics();
        // OpenTelemetry: the patterns' meter and activity source and MassTransit's own, metrics scraped by Prometheus at
        // MetricsPath. The traces are collected for whoever adds an exporter (the showcase keeps none).
        services.AddOpenTelemetry()
            .WithMetrics(m => m.AddMeter(PatternsDiagnostics.Name, "MassTransit")
                // Every scrape reads the instruments as they are then (no cached answer): one scraper, on loopback.
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0))
            .WithTracing(t => t.AddSource(PatternsDiagnostics.Name, "MassTransit"));
        // Health: one check per pattern condition (tag "patterns"), answered at HealthPath with each check's reason.
        services.AddHealthChecks().AddPatternsChecks();
        services.AddSingleton(TimeProvider.System);
        services.AddMassTransit(x =>
        {
            foreach (var workload in workloads)
                workload.AddBus(x, context);
            x.AddConfigureEndpointsCallback((ctx, name, cfg) =>
            {
                foreach (var workload in workloads)
                    workload.ConfigureEndpoint(ctx, name, cfg);
            });
            context.UseTransport(x, (ctx, cfg) =>
            {
                foreach (var workload in workloads)
                    workload.ConfigureBus(ctx, cfg);
            });
        });
        // After AddMassTransit: hosted services stop in the reverse order of registration, so the workloads' producers stop
        // before the bus does (a send on a stopped bus would fail them and stop the app with an error).
        foreach (var workload in workloads)
            workload.AddServices(services, context);
        // The showcase has no sign-in (it listens on 127.0.0.1 only), so changes are recorded as this operator.
        services.AddPatternsDashboard(o =>
        {
            o.ActorWhenAnonymous = "showcase-operator";
            dashboard?.Invoke(o);
        });
        customize?.Invoke(builder);

        var app = builder.Build();
        foreach (var workload in workloads)
            await workload.PrepareAsync(app.Services, cancellationToken);
        app.MapGet("/", () => Results.Redirect(Prefix));
        app.MapPrometheusScrapingEndpoint(MetricsPath);
        app.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = WriteHealthAsync });
        return app;
    }

    /// <summary>The health report as JSON: the overall status and each check's status, reason and data.</summary>
    static Task WriteHealthAsync(HttpContext http, HealthReport report)
    {
        http.Response.ContentType = "application/json; charset=utf-8";
        return http.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new
            {
                status = e.Value.Status.ToString(),
                description = e.Value.Description,
                data = e.Value.Data.ToDictionary(d => d.Key, d => d.Value is IEnumerable<string> list ? string.Join("; ", list) : d.Value?.ToString())
            })
        });
    }

    public static async Task<int> RunAsync(ShowcaseContext context, CancellationToken cancellationToken)
    {
        await using var app = await BuildAsync(context, Port, Workloads(), cancellationToken: cancellationToken);
        app.MapPatternsDashboard(Prefix);

        await app.StartAsync(cancellationToken);
        Console.WriteLine($"Console: http://127.0.0.1:{Port}{Prefix} (repair console; operations view at {Prefix}/ops; Ctrl+C stops)");
        Console.WriteLine($"Metrics: http://127.0.0.1:{Port}{MetricsPath} (Prometheus scrape endpoint)");
        Console.WriteLine($"Health:  http://127.0.0.1:{Port}{HealthPath} (the patterns' health checks, each with its reason)");
        try
        {
            await Task.Delay(Timeout.Infinite, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, app.Lifetime.ApplicationStopping).Token);
        }
        catch (OperationCanceledException)
        {
        }

        await app.StopAsync(CancellationToken.None);
        Console.WriteLine("Stopped.");
        return 0;
    }
}
