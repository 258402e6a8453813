using MassTransit.Patterns.Addressing;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The first filter of the endpoint's error pipe: a body that failed to deserialize (before any
/// consume filter could see it) is handed to the workflow processor with its raw bytes and
/// acknowledged. Anything else, or a failed hand-off, continues to MassTransit's fault and error
/// transport filters, so the message is never lost.
/// </summary>
sealed partial class WorkflowMalformedFilter(WorkflowEventOptions options, ILogger logger, WorkflowMetrics metrics) : IFilter<ExceptionReceiveContext>
{
    public void Probe(ProbeContext context) => context.CreateFilterScope("workflowMalformed");

    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        if (options.CaptureMalformed && WorkflowEventOptions.IsDeserialization(context.Exception) && !context.TryGetPayload<ConsumeContext>(out _))
        {
            var queue = AddressNames.EntityName(context.InputAddress);
            var captured = false;
            try
            {
                var report = WorkflowReports.FromReceive(context, options);
                var endpoint = await context.SendEndpointProvider.GetSendEndpoint(options.RepairAddress).ConfigureAwait(false);
                await endpoint.Send(report, context.CancellationToken).ConfigureAwait(false);
                metrics.Delegated(queue);
                metrics.Malformed(queue);
                captured = true;
            }
            catch (Exception e)
            {
                metrics.HandOffFailed(queue);
                LogCaptureFailed(logger, e, queue);
            }

            if (captured)
            {
                // The receive faulted and this error pipe dealt with it: marked as MassTransit's own fault filter marks
                // it (there is no consume context to report it consumed through). Without the mark MassTransit would
                // also move the captured message to _skipped, as a receive that ended neither consumed nor faulted.
                if (!context.IsFaulted)
                    await context.NotifyFaulted(context.Exception).ConfigureAwait(false);
                return;
            }
        }

        await next.Send(context).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 3003, Level = LogLevel.Error,
        Message = "Workflow event: capturing a malformed message from {Queue} failed; it goes to the error queue")]
    static partial void LogCaptureFailed(ILogger logger, Exception exception, string? queue);
}
