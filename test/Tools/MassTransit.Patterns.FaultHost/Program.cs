using System.Diagnostics.Metrics;
using MassTransit;
using MassTransit.Patterns.Diagnostics;
using MassTransit.Patterns.FaultHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

// The consumer process of the event forwarding fault tests. It reports on stdout, one line each:
// READY once the bus consumes, HANDLING <id> when the consumer applied a message (not yet committed),
// STALLED <id> when it hangs on the message it was told to, COMMITTED <id> just before it kills itself
// after that message's commit (before the acknowledgement), SUPPRESSED <n> when the inbox drops a copy; in batched
// mode (--batching N) also BATCH, BATCH-COMMITTED, SPLIT and MEMBER-FAILED lines (BatchReportLoggerProvider).
var output = Console.Out;
var gate = new object();

void Report(string line)
{
    lock (gate)
    {
        output.WriteLine(line);
        output.Flush();
    }
}

// --stripes: an app instance of the thread delegate's stripes on a cluster (StripeApp), reporting READY only.
if (args.Contains("--stripes"))
{
    await StripeApp.RunAsync(args, Report);
    return;
}

var settings = FaultHostSettings.Parse(args);
using var listener = new MeterListener();
long suppressed = 0;
listener.InstrumentPublished = (instrument, l) =>
{
    if (instrument.Meter.Name == PatternsDiagnostics.Name && instrument.Name == "masstransit.patterns.event_forwarding.inbox.duplicates_suppressed")
        l.EnableMeasurementEvents(instrument);
};
listener.SetMeasurementEventCallback<long>((_, value, _, _) => Report($"SUPPRESSED {Interlocked.Add(ref suppressed, value)}"));
listener.Start();

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace); // stdout carries only the report lines
builder.Services.AddFaultConsumer(settings, new ConsumerHooks { StallOn = settings.StallOn, StallInBatch = settings.StallInBatch, Report = Report }, Report);

using var host = builder.Build();
await host.StartAsync();
await host.Services.GetRequiredService<IBusControl>().WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(60));
Report("READY");
await host.WaitForShutdownAsync();
