using System.Globalization;
using MassTransit.Patterns.Contextual;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>
/// Contextual queues: per routed message type, the queue of each context and bucket (its contexts, state, messages
/// consumed, idle time), how many were retired, and what the default queue consumed. Read from every
/// <see cref="ContextualRouting"/> of the container (<c>AddContextualQueues&lt;T&gt;()</c> registers each as its base type too).
/// </summary>
sealed class ContextualOperationsPage : OperationsPage<ContextualOperationsPage.State>
{
    public override string Slug => "contextual";

    public override string Title => "Contextual queues";

    public override bool InUse(IServiceProvider services) =>
        services.GetRequiredService<IServiceProviderIsService>().IsService(typeof(ContextualRouting));

    protected override Task<State> ReadStateAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        var routings = services.GetServices<ContextualRouting>().Distinct()
            .Select(Read)
            .OrderBy(r => r.MessageType, StringComparer.Ordinal)
            .ToArray();
        return Task.FromResult(new State(routings));
    }

    static Routing Read(ContextualRouting routing)
    {
        if (!routing.IsConfigured)
            return new Routing(routing.MessageType.Name, false, null, null, 0, 0, 0, 0, 0, routing.RetiredCount, routing.DefaultConsumed, null, []);
        var queues = routing.Queues
            .OrderBy(q => q.IsBucket).ThenBy(q => q.QueueName, StringComparer.OrdinalIgnoreCase)
            .Select(q => new Queue(q.QueueName, q.Contexts, q.State, q.IsStatic, q.IsBucket, q.Consumed, q.InFlight, q.Idle.TotalSeconds))
            .ToArray();
        var options = routing.Options;
        return new Routing(routing.MessageType.Name, true, options.DefaultQueueName, routing.RouterAddress.ToString(), routing.ContextQueueCount,
            routing.ActiveContexts, queues.Count(q => q.IsBucket), queues.Where(q => q.IsBucket).Sum(q => q.Contexts.Count), options.MaxContextQueues,
            routing.RetiredCount, routing.DefaultConsumed, options.IdleTimeout.TotalSeconds, queues);
    }

    protected override void Render(DashboardHtml html, State state, OperationsRenderContext context)
    {
        if (state.Routings.Count == 0)
        {
            html.Element("p", "No contextual routing is registered.", ("class", "hint"), ("data-test", "contextual-none"));
            return;
        }
        foreach (var r in state.Routings)
        {
            html.Raw("<section data-test=\"contextual-routing\"").Attr("data-message-type", r.MessageType).Raw(">");
            html.Element("h2", r.MessageType);
            if (!r.Configured)
            {
                html.Element("p", "Not configured yet (UseContextualQueues runs when the bus is created).", ("class", "hint"));
                html.Raw("</section>");
                continue;
            }
            html.Raw("<section class=\"counts\">");
            html.Count("Context queues", r.ContextQueues, "contextual-context-queues", $"of at most {r.MaxContextQueues}");
            html.Count("Active contexts", r.ActiveContexts, "contextual-active-contexts");
            html.Count("Buckets", r.Buckets, "contextual-buckets");
            html.Count("Bucketed contexts", r.BucketedContexts, "contextual-bucketed-contexts");
            html.Count("Retired", r.Retired, "contextual-retired");
            html.Count("Default queue consumed", r.DefaultConsumed, "contextual-default-consumed");
            html.Raw("</section>");
            html.Raw("<dl class=\"facts\">");
            html.Element("dt", "Default queue");
            html.Element("dd", r.DefaultQueue, ("data-test", "contextual-default-queue"));
            html.Element("dt", "Producers send to");
            html.Element("dd", r.RouterAddress, ("data-test", "contextual-router"));
            html.Element("dt", "Idle queues retire after");
            html.Element("dd", $"{r.IdleTimeoutSeconds:0.#} s", ("data-test", "contextual-idle-timeout"),
                ("data-value", r.IdleTimeoutSeconds?.ToString(CultureInfo.InvariantCulture)));
            html.Raw("</dl>");
            if (r.Queues.Count == 0)
                html.Element("p", "No context queue yet: contexts get one when the default queue first sees them.", ("class", "hint"));
            else
            {
                html.Raw("<table><thead><tr><th>Queue</th><th>Kind</th><th>Contexts</th><th>State</th><th>Consumed</th><th>In flight</th><th>Idle</th></tr></thead><tbody>");
                foreach (var q in r.Queues)
                {
                    html.Raw("<tr data-test=\"contextual-row\"").Attr("data-queue", q.Name).Attr("data-key", q.IsBucket ? null : q.Contexts.FirstOrDefault())
                        .Attr("data-kind", q.IsBucket ? "bucket" : q.IsStatic ? "static" : "dynamic").Raw(">");
                    html.Element("td", q.Name);
                    html.Element("td", q.IsBucket ? "bucket" : q.IsStatic ? "static" : "dynamic");
                    html.Element("td", string.Join(", ", q.Contexts), ("data-test", "contextual-contexts"), ("data-value", q.Contexts.Count.ToString(CultureInfo.InvariantCulture)));
                    html.Element("td", q.State.ToString().ToLowerInvariant(), ("data-test", "contextual-state"), ("data-value", q.State.ToString()));
                    html.Element("td", q.Consumed.ToString(CultureInfo.InvariantCulture), ("data-test", "contextual-consumed"),
                        ("data-value", q.Consumed.ToString(CultureInfo.InvariantCulture)));
                    html.Element("td", q.InFlight.ToString(CultureInfo.InvariantCulture), ("data-test", "contextual-in-flight"),
                        ("data-value", q.InFlight.ToString(CultureInfo.InvariantCulture)));
                    html.Element("td", DashboardHtml.Age(TimeSpan.FromSeconds(q.IdleSeconds)), ("data-test", "contextual-idle"),
                        ("data-value", q.IdleSeconds.ToString("0.###", CultureInfo.InvariantCulture)));
                    html.Raw("</tr>");
                }
                html.Raw("</tbody></table>");
            }
            html.Raw("</section>");
        }
    }

    /// <summary>Every routed message type's contextual queues.</summary>
    public sealed record State(IReadOnlyList<Routing> Routings);

    /// <summary>One routed message type.</summary>
    public sealed record Routing(string MessageType, bool Configured, string? DefaultQueue, string? RouterAddress, int ContextQueues, int ActiveContexts,
        int Buckets, int BucketedContexts, int MaxContextQueues, long Retired, long DefaultConsumed, double? IdleTimeoutSeconds, IReadOnlyList<Queue> Queues);

    /// <summary>One context or bucket queue now.</summary>
    public sealed record Queue(string Name, IReadOnlyList<string> Contexts, ContextQueueState State, bool IsStatic, bool IsBucket, long Consumed, long InFlight,
        double IdleSeconds);
}
