using MassTransit.Patterns.Requests;

namespace MassTransit.Patterns.Workflow;

/// <summary>
/// A person's API to the workflow processor (what a web page calls): list and inspect waiting
/// messages, edit, resubmit, discard or restore one. Each command is answered once applied (or refused) and
/// recorded in the message's audit with the actor.
/// </summary>
public sealed class WorkflowEventClient
{
    readonly IClientFactory _clients;
    readonly Uri _address;
    readonly TimeSpan _timeout;

    /// <summary>
    /// Talks to the processor at <paramref name="processorAddress"/> (default <c>queue:workflow-repair</c>). In the
    /// process that registers the processor, resolve the client from the container instead: it follows
    /// <see cref="WorkflowProcessorOptions.QueueName"/>; elsewhere pass the processor's address. Each call waits at most
    /// <paramref name="timeout"/> (default 30 s) for the processor's answer (<see cref="RequestTimeoutException"/>); a call
    /// whose send has not even reached the broker by then fails with a <see cref="TimeoutException"/> 2 s later.
    /// </summary>
    public WorkflowEventClient(IBus bus, Uri? processorAddress = null, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(bus);
        _clients = bus.CreateClientFactory();
        _address = processorAddress ?? WorkflowProcessorOptions.DefaultAddress;
        _timeout = timeout ?? TimeSpan.FromSeconds(30);
    }

    /// <summary>Messages in <paramref name="state"/> (e.g. <c>AwaitingPerson</c>), or all, newest first.</summary>
    public async Task<IReadOnlyList<WorkflowMessageSummary>> ListAsync(string? state = "AwaitingPerson", int limit = 100, CancellationToken cancellationToken = default) =>
        (await Request<ListWorkflowMessages, WorkflowMessageList>(new ListWorkflowMessages { State = state, Limit = limit }, cancellationToken).ConfigureAwait(false)).Messages;

    /// <summary>Body, headers, failure and audit of one message.</summary>
    public Task<WorkflowMessageDetails> InspectAsync(Guid id, CancellationToken cancellationToken = default) =>
        Request<InspectWorkflowMessage, WorkflowMessageDetails>(new InspectWorkflowMessage { CorrelationId = id }, cancellationToken);

    /// <summary>
    /// Replaces the body of a waiting message. With <paramref name="expectedVersion"/> (the <see cref="WorkflowMessageDetails.Version"/>
    /// the edit was made on), an edit of a message changed since is refused (<see cref="WorkflowCommandRefusal.Stale"/>) and
    /// nothing changes. A body that does not deserialize is refused (<see cref="WorkflowCommandRefusal.Invalid"/>) with the reason.
    /// </summary>
    public Task<WorkflowCommandResult> EditAsync(Guid id, string body, string actor, string? comment = null, string? contentType = null,
        int? expectedVersion = null, CancellationToken cancellationToken = default) =>
        Request<EditWorkflowMessage, WorkflowCommandResult>(new EditWorkflowMessage
        {
            CorrelationId = id,
            Body = body,
            Actor = actor,
            Comment = comment,
            ContentType = contentType,
            ExpectedVersion = expectedVersion
        }, cancellationToken);

    /// <summary>Resubmits a waiting message to its source queue.</summary>
    public Task<WorkflowCommandResult> ResubmitAsync(Guid id, string actor, string? comment = null, CancellationToken cancellationToken = default) =>
        Request<ResubmitWorkflowMessage, WorkflowCommandResult>(new ResubmitWorkflowMessage { CorrelationId = id, Actor = actor, Comment = comment }, cancellationToken);

    /// <summary>Discards a waiting message.</summary>
    public Task<WorkflowCommandResult> DiscardAsync(Guid id, string actor, string? comment = null, CancellationToken cancellationToken = default) =>
        Request<DiscardWorkflowMessage, WorkflowCommandResult>(new DiscardWorkflowMessage { CorrelationId = id, Actor = actor, Comment = comment }, cancellationToken);

    /// <summary>Restores a discarded message: it waits for a person again (refused with <see cref="WorkflowCommandRefusal.WrongState"/> in any other state).</summary>
    public Task<WorkflowCommandResult> RestoreAsync(Guid id, string actor, string? comment = null, CancellationToken cancellationToken = default) =>
        Request<RestoreWorkflowMessage, WorkflowCommandResult>(new RestoreWorkflowMessage { CorrelationId = id, Actor = actor, Comment = comment }, cancellationToken);

    async Task<TResponse> Request<TRequest, TResponse>(TRequest request, CancellationToken cancellationToken)
        where TRequest : class
        where TResponse : class
    {
        var client = _clients.CreateRequestClient<TRequest>(_address, RequestTimeout.After(ms: (int)_timeout.TotalMilliseconds));
        // Bounded as a whole: a person's command whose send waits for the broker must not hang the page (BoundedRequest).
        var response = await BoundedRequest.GetAsync(token => client.GetResponse<TResponse>(request, token), _timeout, cancellationToken).ConfigureAwait(false);
        return response.Message;
    }
}
