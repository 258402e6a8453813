using System.Net.Mime;
using System.Security.Cryptography;
using MassTransit.Patterns.Addressing;
using MassTransit.Serialization;
using Microsoft.Extensions.DependencyInjection;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// The workflow processor: one instance per failed message (keyed by its original message id). It
/// tries the registered repairers in order; a repaired copy is resubmitted to its source queue with
/// lineage headers and the original message id, and the workflow completes when that copy is
/// processed, or counts another failure. After <see cref="WorkflowEventState.MaxRepairAttempts"/>
/// automatic attempts, or when no repairer can help, the message waits for a person, who can edit,
/// resubmit or discard it. Every step is in the audit trail.
/// </summary>
public sealed class WorkflowEventStateMachine : MassTransitStateMachine<WorkflowEventState>
{
    const string System = "system";
    readonly WorkflowProcessorOptions _options;
    readonly TimeProvider _time;
    readonly WorkflowMetrics? _metrics;

    /// <summary>The instruments this machine records on (the container's, when it created the machine).</summary>
    internal WorkflowMetrics? Metrics => _metrics;

    /// <summary>
    /// Creates the state machine with the processor's options and metrics (from the container when registered with
    /// <c>AddWorkflowEventProcessor</c>; without <paramref name="metrics"/> nothing is recorded).
    /// </summary>
    public WorkflowEventStateMachine(WorkflowProcessorOptions? options = null, TimeProvider? time = null, WorkflowMetrics? metrics = null)
    {
        _options = options ?? new WorkflowProcessorOptions();
        _time = time ?? TimeProvider.System;
        _metrics = metrics;

        InstanceState(x => x.CurrentState);
        Event(() => Failed, e => e.CorrelateById(m => m.Message.CorrelationId));
        Event(() => Processed, e =>
        {
            e.CorrelateById(m => m.Message.CorrelationId);
            e.OnMissingInstance(m => m.Discard());
        });
        Event(() => EditRequested, e =>
        {
            e.CorrelateById(m => m.Message.CorrelationId);
            e.OnMissingInstance(m => m.ExecuteAsync(c => NotFoundAsync(c, c.Message.CorrelationId)));
        });
        Event(() => ResubmitRequested, e =>
        {
            e.CorrelateById(m => m.Message.CorrelationId);
            e.OnMissingInstance(m => m.ExecuteAsync(c => NotFoundAsync(c, c.Message.CorrelationId)));
        });
        Event(() => DiscardRequested, e =>
        {
            e.CorrelateById(m => m.Message.CorrelationId);
            e.OnMissingInstance(m => m.ExecuteAsync(c => NotFoundAsync(c, c.Message.CorrelationId)));
        });
        Event(() => RestoreRequested, e =>
        {
            e.CorrelateById(m => m.Message.CorrelationId);
            e.OnMissingInstance(m => m.ExecuteAsync(c => NotFoundAsync(c, c.Message.CorrelationId)));
        });

        // Every event this machine handles changes the instance (at least its audit): the version counts them, so the
        // version a person saw is the stored one until something changed it (see VersionCounter).
        ConnectEventObserver(new VersionCounter());

        Event(() => HeldReceived, e => e.CorrelateById(m => m.Message.CorrelationId));
        Event(() => ReleaseDrained, e =>
        {
            e.CorrelateById(m => m.Message.CorrelationId);
            e.OnMissingInstance(m => m.Discard());
        });

        Initially(
            When(Failed).ThenAsync(FirstFailureAsync),
            // A held message that overtook its leader's failure report: the leader's row starts with it, Received.
            When(HeldReceived).Then(Hold).TransitionTo(Received));
        During(Received, When(Failed).ThenAsync(FirstFailureAsync));

        During([Received, Repairing, Resubmitted, AwaitingPerson],
            When(HeldReceived).Then(Hold));
        During([Completed, Discarded],
            When(HeldReceived).ThenAsync(async c =>
            {
                // The leader was resolved while this one was on its way. A release still on its way back through the
                // endpoint: it waits and follows it once it is back; otherwise it is released at once.
                Hold(c);
                if (!c.Saga.ReadHeld().Any(h => h.Released))
                    await ReleaseHeldAsync(c).ConfigureAwait(false);
            }),
            When(ReleaseDrained).ThenAsync(DrainedAsync));
        During([Received, Repairing, Resubmitted, AwaitingPerson],
            When(ReleaseDrained).Then(c => Ignore(c, "release drained", c.Saga.Attempt)));

        During(Resubmitted,
            When(Failed).ThenAsync(FailedAgainAsync),
            When(Processed).ThenAsync(ProcessedAsync));

        During(AwaitingPerson,
            When(EditRequested).ThenAsync(EditAsync),
            When(ResubmitRequested).ThenAsync(PersonResubmitAsync),
            When(DiscardRequested).ThenAsync(c => PersonDiscardAsync(c)));

        // Late or duplicate reports, and a person's commands outside AwaitingPerson, change nothing.
        During([Repairing, AwaitingPerson, Completed, Discarded],
            When(Failed).Then(c => Ignore(c, "failure", c.Message.Attempt)));
        During([Received, Repairing, AwaitingPerson, Completed, Discarded],
            When(Processed).Then(c => Ignore(c, "processed", c.Message.Attempt)));
        During([Received, Repairing, Resubmitted, Completed, Discarded],
            When(EditRequested).ThenAsync(c => RefuseAsync(c, "edit", c.Message.Actor)),
            When(ResubmitRequested).ThenAsync(c => RefuseAsync(c, "resubmit", c.Message.Actor)),
            When(DiscardRequested).ThenAsync(c => RefuseAsync(c, "discard", c.Message.Actor)));

        During(Discarded,
            When(RestoreRequested).ThenAsync(PersonRestoreAsync));
        During([Received, Repairing, Resubmitted, AwaitingPerson, Completed],
            When(RestoreRequested).ThenAsync(c => RefuseAsync(c, "restore", c.Message.Actor, nameof(Discarded), "the message was discarded")));
    }

    /// <summary>The failure was recorded.</summary>
    public State Received { get; private set; } = null!;

    /// <summary>Repairers are running.</summary>
    public State Repairing { get; private set; } = null!;

    /// <summary>A copy was resubmitted; waiting for it to be processed or to fail.</summary>
    public State Resubmitted { get; private set; } = null!;

    /// <summary>A person must edit, resubmit or discard it.</summary>
    public State AwaitingPerson { get; private set; } = null!;

    /// <summary>A resubmitted copy was processed (final).</summary>
    public State Completed { get; private set; } = null!;

    /// <summary>Discarded by a repairer or a person (final).</summary>
    public State Discarded { get; private set; } = null!;

    /// <summary>A delegated failure (first or of a resubmitted copy).</summary>
    public Event<WorkflowFailureReported> Failed { get; private set; } = null!;

    /// <summary>A resubmitted copy was processed.</summary>
    public Event<WorkflowMessageProcessed> Processed { get; private set; } = null!;

    /// <summary>A later message of this one's key, held behind it.</summary>
    public Event<WorkflowMessageHeld> HeldReceived { get; private set; } = null!;

    /// <summary>The last message of a release came back through the endpoint.</summary>
    public Event<WorkflowReleaseDrained> ReleaseDrained { get; private set; } = null!;

    /// <summary>A person edits the body.</summary>
    public Event<EditWorkflowMessage> EditRequested { get; private set; } = null!;

    /// <summary>A person resubmits.</summary>
    public Event<ResubmitWorkflowMessage> ResubmitRequested { get; private set; } = null!;

    /// <summary>A person discards.</summary>
    public Event<DiscardWorkflowMessage> DiscardRequested { get; private set; } = null!;

    /// <summary>A person restores a discarded message: it waits for a person again.</summary>
    public Event<RestoreWorkflowMessage> RestoreRequested { get; private set; } = null!;

    DateTimeOffset Now => _time.GetUtcNow();

    void Audit(WorkflowEventState saga, string actor, string action, string? detail) => saga.AddAudit(Now, actor, action, detail, _options.AuditLimit);

    static string? Queue(WorkflowEventState saga) => AddressNames.EntityName(Uri.TryCreate(saga.SourceAddress, UriKind.Absolute, out var uri) ? uri : null);

    async Task FirstFailureAsync(BehaviorContext<WorkflowEventState, WorkflowFailureReported> context)
    {
        var saga = context.Saga;
        var m = context.Message;
        saga.MessageTypes = string.Join(';', m.MessageTypes);
        saga.MessageType = m.MessageTypes.FirstOrDefault();
        saga.SourceAddress = m.SourceAddress?.ToString() ?? "";
        saga.ContentType = m.ContentType;
        saga.Body = m.Body;
        saga.Headers = global::System.Text.Json.JsonSerializer.Serialize(m.Headers, WorkflowEventState.JsonOptions);
        saga.MaxRepairAttempts = m.MaxRepairAttempts ?? _options.MaxRepairAttempts;
        saga.Attempt = m.Attempt;
        saga.HoldKey = m.HoldKey;
        saga.ReceivedAt = Now;
        RecordFailure(saga, m);
        await context.TransitionToState(Received).ConfigureAwait(false);
        await RepairOrWaitAsync(context, FailedTraceParent(m)).ConfigureAwait(false);
    }

    void RecordFailure(WorkflowEventState saga, WorkflowFailureReported m)
    {
        saga.Failures++;
        saga.Malformed = m.Malformed;
        saga.ExceptionType = m.ExceptionType;
        saga.ExceptionMessage = m.ExceptionMessage;
        saga.ExceptionDetail = m.ExceptionDetail;
        Audit(saga, System, m.Malformed ? "malformed" : "failed",
            $"attempt {m.Attempt}: {m.ExceptionType}: {m.ExceptionMessage}{(m.RetryCount > 0 ? $" (after {m.RetryCount} retries in place)" : "")}");
    }

    async Task FailedAgainAsync(BehaviorContext<WorkflowEventState, WorkflowFailureReported> context)
    {
        var saga = context.Saga;
        if (context.Message.Attempt != saga.Attempt)
        {
            Ignore(context, "failure", context.Message.Attempt);
            return;
        }

        RecordFailure(saga, context.Message);
        if (saga.ResubmittedBy?.StartsWith("person:", StringComparison.Ordinal) == true)
        {
            Audit(saga, System, "waiting", "the copy a person resubmitted failed again");
            await WaitAsync(context).ConfigureAwait(false);
            return;
        }
        await RepairOrWaitAsync(context, FailedTraceParent(context.Message)).ConfigureAwait(false);
    }

    static string? FailedTraceParent(WorkflowFailureReported report) => report.Headers.GetValueOrDefault(WorkflowHeaders.FailedTraceParent);

    /// <summary>The first failed attempt's consume, recorded with the message's headers.</summary>
    static string? OriginalTraceParent(WorkflowEventState saga) => saga.ReadHeaders().GetValueOrDefault(WorkflowHeaders.FailedTraceParent);

    /// <summary>Runs the repairers for the failure whose consume is <paramref name="failure"/>, inside <c>workflow.repair</c>.</summary>
    async Task RepairOrWaitAsync(BehaviorContext<WorkflowEventState> context, string? failure)
    {
        var saga = context.Saga;
        await context.TransitionToState(Repairing).ConfigureAwait(false);
        if (saga.RepairAttempts >= saga.MaxRepairAttempts)
        {
            Audit(saga, System, "waiting", $"{saga.RepairAttempts} automatic repair attempt(s) made, the maximum is {saga.MaxRepairAttempts}");
            await WaitAsync(context).ConfigureAwait(false);
            return;
        }

        using var activity = WorkflowTelemetry.StartProcessing(WorkflowTelemetry.Repair, saga.CorrelationId, saga.Attempt, OriginalTraceParent(saga), failure);

        var services = context.TryGetPayload<IServiceProvider>(out var provider) ? provider : null;
        var registry = services?.GetService<WorkflowRepairerRegistry>();
        var tried = 0;
        if (services is not null && registry is not null)
            foreach (var repairer in registry.For(saga))
            {
                tried++;
                RepairAttempt attempt;
                try
                {
                    attempt = await repairer.Run(services, saga, context.CancellationToken).ConfigureAwait(false);
                }
                // Cancellation is decided by the token: a repairer's TaskCanceledException while the processor is not
                // stopping (HttpClient's timeout) is a failure of that repairer; only a stop leaves the message to be redelivered.
                catch (Exception e) when (!context.CancellationToken.IsCancellationRequested)
                {
                    Audit(saga, repairer.Name, "repairer_failed", $"{e.GetType().Name}: {e.Message}");
                    continue;
                }

                switch (attempt.Outcome)
                {
                    case RepairOutcome.Repaired:
                        Audit(saga, repairer.Name, "repaired", Describe(saga.Body, attempt.Body!, attempt.Note));
                        saga.Body = attempt.Body!;
                        saga.ContentType = attempt.ContentType ?? saga.ContentType;
                        saga.RepairAttempts++;
                        await ResubmitAsync(context, "repairer:" + repairer.Name, activity).ConfigureAwait(false);
                        return;
                    case RepairOutcome.Discard:
                        Audit(saga, repairer.Name, "discarded", attempt.Note);
                        await DiscardAsync(context).ConfigureAwait(false);
                        return;
                    default:
                        Audit(saga, repairer.Name, "not_repaired", attempt.Note);
                        break;
                }
            }

        Audit(saga, System, "waiting", tried == 0 ? "no repairer is registered for this message" : "no repairer could repair it");
        await WaitAsync(context).ConfigureAwait(false);
    }

    async Task WaitAsync(BehaviorContext<WorkflowEventState> context)
    {
        await context.TransitionToState(AwaitingPerson).ConfigureAwait(false);
        _metrics?.Waiting(Queue(context.Saga));
    }

    async Task DiscardAsync(BehaviorContext<WorkflowEventState> context)
    {
        context.Saga.ResolvedAt = Now;
        await context.TransitionToState(Discarded).ConfigureAwait(false);
        _metrics?.Discarded(Queue(context.Saga));
        await ReleaseHeldAsync(context).ConfigureAwait(false);
    }

    void Hold(BehaviorContext<WorkflowEventState, WorkflowMessageHeld> context)
    {
        var m = context.Message;
        var held = context.Saga.ReadHeld();
        if (held.Any(h => h.MessageId == m.MessageId && !h.Released))
            return;
        held.Add(new HeldMessage(m.MessageId, m.Sequence, m.SourceAddress?.ToString(), m.ContentType, m.Body, m.Headers));
        context.Saga.WriteHeld(held);
        Audit(context.Saga, System, "held", $"message {m.MessageId} of key {m.Key} (#{m.Sequence}) waits behind this one");
    }

    /// <summary>The last message of the release on its way came back: the ones held meanwhile are released after it.</summary>
    async Task DrainedAsync(BehaviorContext<WorkflowEventState, WorkflowReleaseDrained> context)
    {
        var held = context.Saga.ReadHeld();
        if (!held.Any(h => h.Released && h.MessageId == context.Message.MessageId))
        {
            Audit(context.Saga, System, "ignored", $"release drained report of message {context.Message.MessageId}, not the last one released");
            return;
        }
        held.RemoveAll(h => h.Released);
        context.Saga.WriteHeld(held);
        if (held.Count > 0)
            await ReleaseHeldAsync(context).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the messages held behind this one back to their queue in the order received, the last marked
    /// (<see cref="WorkflowHeaders.ReleaseLast"/>): the endpoint keeps holding the key, and frees it once that one has
    /// come back through it. With none held, tells the instances the key is free if they held nothing behind it since.
    /// </summary>
    async Task ReleaseHeldAsync(BehaviorContext<WorkflowEventState> context)
    {
        var saga = context.Saga;
        var held = saga.ReadHeld().Where(h => !h.Released).OrderBy(h => h.Sequence).ToList();
        for (var i = 0; i < held.Count; i++)
        {
            var h = held[i];
            var last = i == held.Count - 1;
            await SendRawAsync(context, h.SourceAddress ?? saga.SourceAddress, h.ContentType, h.Body, h.MessageId, h.Headers, send =>
            {
                send.Headers.Set(WorkflowHeaders.ReleasedBy, saga.CorrelationId.ToString());
                if (last)
                    send.Headers.Set(WorkflowHeaders.ReleaseLast, "true");
            }).ConfigureAwait(false);
        }

        if (held.Count > 0)
        {
            Audit(saga, System, "released", $"{held.Count} held message(s) of key {saga.HoldKey} released in order");
            _metrics?.Released(Queue(saga), held.Count);
            var marker = held[^1] with { Body = [], Headers = [], Released = true };
            saga.WriteHeld([marker]);
        }
        else if (saga.HoldKey is { } holdKey)
            await context.Publish(new WorkflowKeyReleased { Queue = Queue(saga) ?? "", Key = holdKey, LeaderId = saga.CorrelationId, IfDrained = true })
                .ConfigureAwait(false);
    }

    /// <summary>Sends the next copy; <paramref name="repair"/> is the activity that decided it (its context goes with the copy).</summary>
    async Task ResubmitAsync(BehaviorContext<WorkflowEventState> context, string by, global::System.Diagnostics.Activity? repair)
    {
        var saga = context.Saga;
        saga.Attempt++;
        saga.ResubmittedBy = by;
        var body = WorkflowBody.WithLineage(saga.Body, saga.CorrelationId, saga.Attempt, by);
        var attempt = saga.Attempt;
        var headers = saga.ReadHeaders();
        var failed = headers.GetValueOrDefault(WorkflowHeaders.FailedTraceParent);
        var repairTraceParent = WorkflowTelemetry.TraceParent(repair);
        repair?.SetTag(WorkflowTelemetry.ResubmittedByTag, by);
        await SendRawAsync(context, saga.SourceAddress, saga.ContentType, body, saga.CorrelationId, headers, send =>
        {
            send.Headers.Set(WorkflowHeaders.OriginalMessageId, saga.CorrelationId.ToString());
            send.Headers.Set(WorkflowHeaders.Attempt, attempt.ToString(global::System.Globalization.CultureInfo.InvariantCulture));
            send.Headers.Set(WorkflowHeaders.ResubmittedBy, by);
            if (failed is not null)
                send.Headers.Set(WorkflowHeaders.FailedTraceParent, failed);
            if (repairTraceParent is not null)
                send.Headers.Set(WorkflowHeaders.RepairTraceParent, repairTraceParent);
        }).ConfigureAwait(false);
        Audit(saga, by, "resubmitted", $"attempt {attempt} to {saga.SourceAddress}");
        await context.TransitionToState(Resubmitted).ConfigureAwait(false);
        _metrics?.Resubmitted(Queue(saga), by.StartsWith("person:", StringComparison.Ordinal) ? "person" : "repairer");
    }

    /// <summary>
    /// Sends <paramref name="body"/> as it is (its content type, the given message id and its own headers, less the ones the
    /// transport or this pattern manage) to <paramref name="address"/>, then sets this pattern's headers with <paramref name="lineage"/>.
    /// </summary>
    static async Task SendRawAsync(ConsumeContext context, string address, string? contentType, byte[] body, Guid messageId,
        IEnumerable<KeyValuePair<string, string>> headers, Action<SendContext> lineage)
    {
        var type = new ContentType(string.IsNullOrWhiteSpace(contentType) ? SystemTextJsonMessageSerializer.JsonContentType.ToString() : contentType);
        var endpoint = await context.GetSendEndpoint(new Uri(address)).ConfigureAwait(false);
        await endpoint.Send(new WorkflowRawBody(), send =>
        {
            send.Serializer = new CopyBodySerializer(type, new BytesMessageBody(body));
            send.MessageId = messageId;
            foreach (var (key, value) in headers)
                if (!IsTransportManaged(key))
                    send.Headers.Set(key, value);
            lineage(send);
        }, context.CancellationToken).ConfigureAwait(false);
    }

    static bool IsTransportManaged(string header) =>
        header.StartsWith("MT-Fault", StringComparison.OrdinalIgnoreCase) || header.StartsWith("MT-Reason", StringComparison.OrdinalIgnoreCase)
        || header.StartsWith("MT-Redelivery", StringComparison.OrdinalIgnoreCase) || header.StartsWith("MT-Patterns-Workflow", StringComparison.OrdinalIgnoreCase)
        || header.StartsWith("x-", StringComparison.OrdinalIgnoreCase) || header.StartsWith("MT-Host", StringComparison.OrdinalIgnoreCase)
        || header is "Content-Type" or "MessageId" or "CorrelationId" or "ConversationId" or "InitiatorId" or "RequestId" or "RoutingKey"
            or "publishId" or "MT-Activity-Id" or "traceparent" or "tracestate";

    async Task ProcessedAsync(BehaviorContext<WorkflowEventState, WorkflowMessageProcessed> context)
    {
        var saga = context.Saga;
        if (context.Message.Attempt != saga.Attempt)
        {
            Ignore(context, "processed", context.Message.Attempt);
            return;
        }

        var byPerson = saga.ResubmittedBy?.StartsWith("person:", StringComparison.Ordinal) == true;
        Audit(saga, System, "completed", $"attempt {saga.Attempt} processed by {context.Message.InputAddress}");
        saga.ResolvedAt = Now;
        await context.TransitionToState(Completed).ConfigureAwait(false);
        if (byPerson)
            _metrics?.ResolvedByPerson(Queue(saga));
        else
            _metrics?.Repaired(Queue(saga));
        await ReleaseHeldAsync(context).ConfigureAwait(false);
    }

    async Task EditAsync(BehaviorContext<WorkflowEventState, EditWorkflowMessage> context)
    {
        var saga = context.Saga;
        var m = context.Message;
        if (string.IsNullOrWhiteSpace(m.Actor))
        {
            await RespondAsync(context, false, "Actor must be given", WorkflowCommandRefusal.Invalid).ConfigureAwait(false);
            return;
        }

        // The version is the one loaded: the counter moves it on only after this event.
        if (m.ExpectedVersion is { } expected && expected != saga.Version)
        {
            var stale = $"edited on version {expected}, the message is now at version {saga.Version}: reload it";
            Audit(saga, "person:" + m.Actor, "refused", "edit " + stale);
            await RespondAsync(context, false, "The edit was made on an older version of the message (" + stale + ").", WorkflowCommandRefusal.Stale)
                .ConfigureAwait(false);
            return;
        }

        var body = global::System.Text.Encoding.UTF8.GetBytes(m.Body);
        var services = context.TryGetPayload<IServiceProvider>(out var provider) ? provider : null;
        var known = WorkflowEditCheck.KnownTypes(_options, services?.GetService<WorkflowRepairerRegistry>());
        if (WorkflowEditCheck.Refusal(body, m.ContentType is { Length: > 0 } ? m.ContentType : saga.ContentType, saga.MessageTypeList(), known,
                _options.MaxEditedBodyBytes) is { } invalid)
        {
            Audit(saga, "person:" + m.Actor, "refused", "edit: " + invalid);
            await RespondAsync(context, false, invalid, WorkflowCommandRefusal.Invalid).ConfigureAwait(false);
            return;
        }

        var detail = Describe(saga.Body, body, m.Comment);
        if (m.ContentType is { Length: > 0 } contentType && contentType != saga.ContentType)
            detail += $"; content type {saga.ContentType} -> {contentType}";
        Audit(saga, "person:" + m.Actor, "edited", detail);
        saga.Body = body;
        saga.ContentType = m.ContentType is { Length: > 0 } ? m.ContentType : saga.ContentType;
        _metrics?.PersonAction("edit");
        await RespondAsync(context, true, null, WorkflowCommandRefusal.None).ConfigureAwait(false);
    }

    async Task PersonResubmitAsync(BehaviorContext<WorkflowEventState, ResubmitWorkflowMessage> context)
    {
        if (string.IsNullOrWhiteSpace(context.Message.Actor))
        {
            await RespondAsync(context, false, "Actor must be given", WorkflowCommandRefusal.Invalid).ConfigureAwait(false);
            return;
        }

        if (context.Message.Comment is { Length: > 0 } comment)
            Audit(context.Saga, "person:" + context.Message.Actor, "comment", comment);
        using (var activity = WorkflowTelemetry.StartProcessing(WorkflowTelemetry.Resubmit, context.Saga.CorrelationId, context.Saga.Attempt,
                   OriginalTraceParent(context.Saga), null))
            await ResubmitAsync(context, "person:" + context.Message.Actor, activity).ConfigureAwait(false);
        _metrics?.PersonAction("resubmit");
        await RespondAsync(context, true, null, WorkflowCommandRefusal.None).ConfigureAwait(false);
    }

    async Task PersonDiscardAsync(BehaviorContext<WorkflowEventState, DiscardWorkflowMessage> context)
    {
        if (string.IsNullOrWhiteSpace(context.Message.Actor))
        {
            await RespondAsync(context, false, "Actor must be given", WorkflowCommandRefusal.Invalid).ConfigureAwait(false);
            return;
        }

        Audit(context.Saga, "person:" + context.Message.Actor, "discarded", context.Message.Comment);
        await DiscardAsync(context).ConfigureAwait(false);
        _metrics?.PersonAction("discard");
        await RespondAsync(context, true, null, WorkflowCommandRefusal.None).ConfigureAwait(false);
    }

    /// <summary>
    /// A discarded message waits for a person again. The messages held behind it were released when it was discarded, so
    /// it no longer holds its key.
    /// </summary>
    async Task PersonRestoreAsync(BehaviorContext<WorkflowEventState, RestoreWorkflowMessage> context)
    {
        var saga = context.Saga;
        if (string.IsNullOrWhiteSpace(context.Message.Actor))
        {
            await RespondAsync(context, false, "Actor must be given", WorkflowCommandRefusal.Invalid).ConfigureAwait(false);
            return;
        }

        var detail = context.Message.Comment;
        if (saga.HoldKey is { } key)
        {
            var released = $"no longer holds key {key} (the messages held behind it were released when it was discarded)";
            detail = detail is { Length: > 0 } ? $"{detail}; {released}" : released;
            saga.HoldKey = null;
        }
        Audit(saga, "person:" + context.Message.Actor, "restored", detail);
        saga.ResolvedAt = null;
        await WaitAsync(context).ConfigureAwait(false);
        _metrics?.PersonAction("restore");
        await RespondAsync(context, true, null, WorkflowCommandRefusal.None).ConfigureAwait(false);
    }

    void Ignore(BehaviorContext<WorkflowEventState> context, string what, int attempt) =>
        Audit(context.Saga, System, "ignored", $"{what} report of attempt {attempt} in state {context.Saga.CurrentState} (current attempt {context.Saga.Attempt})");

    async Task RefuseAsync<T>(BehaviorContext<WorkflowEventState, T> context, string command, string actor, string needs = nameof(AwaitingPerson),
        string when = "the message waits for a person")
        where T : class
    {
        Audit(context.Saga, "person:" + actor, "refused", $"{command} is only possible while {when} (state {context.Saga.CurrentState})");
        await RespondAsync(context, false, $"The message is {context.Saga.CurrentState}; {command} needs {needs}.", WorkflowCommandRefusal.WrongState)
            .ConfigureAwait(false);
    }

    static async Task RespondAsync<T>(BehaviorContext<WorkflowEventState, T> context, bool accepted, string? reason, WorkflowCommandRefusal refusal)
        where T : class
    {
        if (context.ResponseAddress is null)
            return;
        await context.RespondAsync(new WorkflowCommandResult
        {
            CorrelationId = context.Saga.CorrelationId,
            Accepted = accepted,
            State = context.Saga.CurrentState,
            Reason = reason,
            Refusal = refusal
        }).ConfigureAwait(false);
    }

    static async Task NotFoundAsync(ConsumeContext context, Guid id)
    {
        if (context.ResponseAddress is null)
            return;
        await context.RespondAsync(new WorkflowCommandResult
        {
            CorrelationId = id,
            Accepted = false,
            State = "",
            Reason = "No workflow message has this id.",
            Refusal = WorkflowCommandRefusal.NotFound
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Counts the changes of an instance in <see cref="WorkflowEventState.Version"/>: one per event handled, after its
    /// activities ran (so a command compares with the version loaded). Repositories that manage the version themselves
    /// keep it right: ours (EF Core) writes the loaded version + 1 whatever the instance holds; MassTransit's in-memory
    /// repository writes nothing, so without this count the version would stay 0 and a stale edit would go unnoticed.
    /// A repository that takes the instance's version as the one expected in the store (MassTransit's DynamoDB one)
    /// does not fit the processor.
    /// </summary>
    sealed class VersionCounter : IEventObserver<WorkflowEventState>
    {
        public Task PreExecute(BehaviorContext<WorkflowEventState> context) => Task.CompletedTask;

        public Task PreExecute<T>(BehaviorContext<WorkflowEventState, T> context)
            where T : class => Task.CompletedTask;

        public Task PostExecute(BehaviorContext<WorkflowEventState> context)
        {
            context.Saga.Version++;
            return Task.CompletedTask;
        }

        public Task PostExecute<T>(BehaviorContext<WorkflowEventState, T> context)
            where T : class
        {
            context.Saga.Version++;
            return Task.CompletedTask;
        }

        public Task ExecuteFault(BehaviorContext<WorkflowEventState> context, Exception exception) => Task.CompletedTask;

        public Task ExecuteFault<T>(BehaviorContext<WorkflowEventState, T> context, Exception exception)
            where T : class => Task.CompletedTask;
    }

    static string Describe(byte[] before, byte[] after, string? note)
    {
        static string Hash(byte[] b) => Convert.ToHexString(SHA256.HashData(b))[..12].ToLowerInvariant();
        var text = $"{WorkflowBody.Diff(before, after)} (body {before.Length} -> {after.Length} bytes, sha256 {Hash(before)} -> {Hash(after)})";
        return note is { Length: > 0 } ? $"{note}; {text}" : text;
    }
}
