using System.Text.Json;
using MassTransit.Patterns.Workflow;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;

namespace MassTransit.Patterns.Dashboard;

/// <summary>The JSON API under <c>{prefix}/api</c>: reads from the store, changes through the processor with the actor.</summary>
static class DashboardApi
{
    public const string DocumentName = "patterns-dashboard";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static void Map(RouteGroupBuilder group)
    {
        var api = group.MapGroup("/api").WithGroupName(DocumentName).WithTags("Repair console");

        api.MapGet("/counts", async (IWorkflowMessageStore store, CancellationToken ct) =>
            {
                var counts = await store.CountByStateAsync(ct).ConfigureAwait(false);
                return TypedResults.Ok(new StateCounts(counts, counts.Values.Sum()));
            })
            .WithName("PatternsDashboardCounts").WithSummary("Messages per state.")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));

        api.MapGet("/messages", async Task<Results<Ok<WorkflowMessagePage>, ProblemHttpResult>> ([AsParameters] ListParameters parameters, IWorkflowMessageStore store,
                CancellationToken ct) =>
            {
                var (query, error) = parameters.ToQuery();
                if (query is null)
                    return BadRequest(error);
                return TypedResults.Ok(await store.ListAsync(query, ct).ConfigureAwait(false));
            })
            .WithName("PatternsDashboardList").WithSummary("One page of messages: filters, free-text search (body and exception message), order.")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));

        api.MapGet("/groups", async Task<Results<Ok<IReadOnlyList<WorkflowMessageGroup>>, ProblemHttpResult>> ([AsParameters] ListParameters parameters,
                IWorkflowMessageStore store, CancellationToken ct) =>
            {
                var (filter, error) = parameters.ToFilter();
                if (filter is null)
                    return BadRequest(error);
                if (parameters.Grouping() is not { } grouping)
                    return BadRequest($"by: '{parameters.By}' is not exception or source.");
                return TypedResults.Ok(await store.GroupsAsync(filter, grouping, ct).ConfigureAwait(false));
            })
            .WithName("PatternsDashboardGroups").WithSummary("Messages counted per group: by exception and message type (by=exception) or by source queue (by=source).")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));

        api.MapGet("/messages/{id:guid}", async Task<Results<Ok<MessageView>, ProblemHttpResult>> (Guid id, IWorkflowMessageStore store, DashboardRedaction redaction,
                CancellationToken ct) =>
            {
                var details = await store.FindAsync(id, ct).ConfigureAwait(false);
                return details is { Found: true } ? TypedResults.Ok(View(details, redaction)) : NotFound(id);
            })
            .WithName("PatternsDashboardMessage").WithSummary("One message: body (pretty when JSON), redacted headers, exception, attempts, lineage, audit, version.")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));

        api.MapPost("/messages/{id:guid}/edit", Edit)
            .WithName("PatternsDashboardEdit")
            .WithSummary("Replaces the body of a message waiting for a person. 409 when made on a stale version or in the wrong state, 422 when invalid, 413 when too large.")
            .Accepts<EditBodyRequest>("application/json")
            .Produces<CommandResponse>().Produces<CommandResponse>(StatusCodes.Status409Conflict).Produces<CommandResponse>(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .AddEndpointFilter(new DashboardGuard(DashboardAction.Edit, true));

        api.MapPost("/messages/{id:guid}/resubmit", (Guid id, HttpContext http, CancellationToken ct) =>
                Command(http, id, "resubmit", false, (c, actor, reason) => c.ResubmitAsync(id, actor, reason, ct)))
            .WithName("PatternsDashboardResubmit").WithSummary("Resubmits a waiting message to its source queue (body: {\"reason\": ...} optional).")
            .Accepts<CommandRequest>("application/json").Produces<CommandResponse>().Produces<CommandResponse>(StatusCodes.Status409Conflict)
            .AddEndpointFilter(new DashboardGuard(DashboardAction.Resubmit, true));

        api.MapPost("/messages/{id:guid}/discard", (Guid id, HttpContext http, CancellationToken ct) =>
                Command(http, id, "discard", true, (c, actor, reason) => c.DiscardAsync(id, actor, reason, ct)))
            .WithName("PatternsDashboardDiscard").WithSummary("Discards a waiting message (body: {\"reason\": ...} required).")
            .Accepts<CommandRequest>("application/json").Produces<CommandResponse>().Produces<CommandResponse>(StatusCodes.Status409Conflict)
            .AddEndpointFilter(new DashboardGuard(DashboardAction.Discard, true));

        api.MapPost("/messages/{id:guid}/restore", (Guid id, HttpContext http, CancellationToken ct) =>
                Command(http, id, "restore", false, (c, actor, reason) => c.RestoreAsync(id, actor, reason, ct)))
            .WithName("PatternsDashboardRestore").WithSummary("Restores a discarded message: it waits for a person again (the discard policy applies).")
            .Accepts<CommandRequest>("application/json").Produces<CommandResponse>().Produces<CommandResponse>(StatusCodes.Status409Conflict)
            .AddEndpointFilter(new DashboardGuard(DashboardAction.Discard, true));

        api.MapPost("/bulk", Bulk)
            .WithName("PatternsDashboardBulk")
            .WithSummary("Starts a bulk retry or discard of a selection (ids) or of a group (filter), paced at BulkRatePerSecond; answers 202 with the job's status.")
            .Accepts<BulkRequest>("application/json").Produces<BulkJobStatus>(StatusCodes.Status202Accepted)
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, true));

        api.MapGet("/bulk/{jobId:guid}", Results<Ok<BulkJobStatus>, ProblemHttpResult> (Guid jobId, BulkJobs jobs) =>
                jobs.Find(jobId) is { } job ? TypedResults.Ok(job.Status()) : NotFound(jobId))
            .WithName("PatternsDashboardBulkStatus").WithSummary("A bulk job's progress: total, done, succeeded, refused with reasons.")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));

        api.MapPost("/bulk/{jobId:guid}/cancel", CancelBulk)
            .WithName("PatternsDashboardBulkCancel").WithSummary("Cancels a bulk job before its next message (the policy of the job's action applies).")
            .Produces<BulkJobStatus>()
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, true));

        MapAntiforgery(api);
    }

    /// <summary>GET api/antiforgery: the token for changes; mapped with the repair console's API, or alone for the operations view's actions.</summary>
    internal static void MapAntiforgery(IEndpointRouteBuilder api) =>
        api.MapGet("/antiforgery", (HttpContext http, IAntiforgery antiforgery) =>
            {
                var tokens = antiforgery.GetAndStoreTokens(http);
                return TypedResults.Ok(new AntiforgeryTokenResponse(tokens.HeaderName ?? DashboardGuard.HeaderName, tokens.RequestToken ?? ""));
            })
            .WithName("PatternsDashboardAntiforgery").WithSummary("The antiforgery token to send in a header with each change (sets its cookie too).")
            .AddEndpointFilter(new DashboardGuard(DashboardAction.View, false));

    internal static MessageView View(WorkflowMessageDetails details, DashboardRedaction redaction)
    {
        var body = details.BodyIsBase64 ? details.Body ?? "" : redaction.Body(details.Body ?? "");
        var (pretty, isJson) = details.BodyIsBase64 ? (body, false) : DashboardBody.Pretty(body);
        var summary = details.Summary ?? new WorkflowMessageSummary();
        return new MessageView
        {
            Id = summary.CorrelationId,
            Summary = summary,
            Version = details.Version,
            Body = body,
            PrettyBody = pretty,
            BodyIsJson = isJson,
            BodyIsBase64 = details.BodyIsBase64,
            ContentType = details.ContentType,
            Headers = redaction.Headers(details.Headers),
            ExceptionDetail = details.ExceptionDetail,
            Malformed = details.Malformed,
            RepairAttempts = summary.RepairAttempts,
            MaxRepairAttempts = details.MaxRepairAttempts,
            OriginalId = summary.CorrelationId,
            Attempt = details.Attempt,
            ResubmittedBy = details.ResubmittedBy,
            ResolvedAt = details.ResolvedAt,
            HoldKey = details.HoldKey,
            HeldCount = details.HeldCount,
            Audit = details.Audit
        };
    }

    static async Task<IResult> Edit(Guid id, HttpContext http, IWorkflowMessageStore store, DashboardAccess access, DashboardCommands commands,
        DashboardRedaction redaction, PatternsDashboardOptions options, ILogger<DashboardCommands> logger, CancellationToken ct)
    {
        var (actor, refusal) = await access.ActorAsync(http).ConfigureAwait(false);
        if (actor is null)
            return refusal!;
        // The request carries the body JSON-escaped: allow for that on top of the body's own limit.
        var (request, error) = await ReadAsync<EditBodyRequest>(http, options.MaxBodyBytes * 6L + 16 * 1024, options.MaxBodyBytes, ct).ConfigureAwait(false);
        if (request is null)
            return error!;
        if (request.Body is null)
            return Invalid(id, "body is required (the whole new body, as text).");
        if (request.ExpectedVersion is not { } expected)
            return Invalid(id, "expectedVersion is required: the version the edit was made on (GET api/messages/{id} gives it), so that an edit of an older version is refused, not applied.");
        var bytes = System.Text.Encoding.UTF8.GetByteCount(request.Body);
        if (bytes > options.MaxBodyBytes)
            return TooLarge($"The body is {bytes} bytes; PatternsDashboardOptions.MaxBodyBytes allows {options.MaxBodyBytes}.");

        var stored = await store.FindAsync(id, ct).ConfigureAwait(false);
        if (stored is not { Found: true })
            return Refused(new CommandResponse(id, false, "", nameof(WorkflowCommandRefusal.NotFound), $"No workflow message has the id {id}."));
        var body = stored.BodyIsBase64 ? request.Body : redaction.PutBack(request.Body, stored.Body);
        var contentType = request.ContentType ?? stored.ContentType;
        if (DashboardBody.IsJsonContentType(contentType) && DashboardBody.JsonError(body) is { } jsonError)
            return Invalid(id, $"The body is not valid JSON ({contentType}): {jsonError}");

        // The processor checks the version (a stale edit is refused there, under the saga's concurrency rules).
        WorkflowCommandResult result;
        try
        {
            result = await commands.EditAsync(id, body, request.ContentType, expected, actor, request.Comment, ct).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is RequestTimeoutException or TimeoutException)
        {
            return NoAnswer();
        }
        DashboardLog.Action(logger, actor, "edit", id, Outcome(result));
        if (result.Refusal == WorkflowCommandRefusal.Stale)
            return Refused(new CommandResponse(id, false, result.State, nameof(WorkflowCommandRefusal.Stale),
                $"The message changed since you read it: nothing was changed. Reload it, look at what changed, and edit again. ({result.Reason})"));
        return Answer(result);
    }

    static async Task<IResult> Command(HttpContext http, Guid id, string action, bool reasonRequired,
        Func<DashboardCommands, string, string?, Task<WorkflowCommandResult>> send)
    {
        var services = http.RequestServices;
        var access = (DashboardAccess)services.GetService(typeof(DashboardAccess))!;
        var (actor, refusal) = await access.ActorAsync(http).ConfigureAwait(false);
        if (actor is null)
            return refusal!;
        var (request, error) = await ReadAsync<CommandRequest>(http, 64 * 1024, null, http.RequestAborted, allowEmpty: true).ConfigureAwait(false);
        if (error is not null)
            return error;
        var reason = string.IsNullOrWhiteSpace(request?.Reason) ? null : request.Reason.Trim();
        if (reasonRequired && reason is null)
            return Invalid(id, $"reason is required to {action} (it is recorded in the audit).");
        WorkflowCommandResult result;
        try
        {
            result = await send((DashboardCommands)services.GetService(typeof(DashboardCommands))!, actor, reason).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is RequestTimeoutException or TimeoutException)
        {
            return NoAnswer();
        }
        var logger = (ILogger<DashboardCommands>)services.GetService(typeof(ILogger<DashboardCommands>))!;
        DashboardLog.Action(logger, actor, action, id, Outcome(result));
        return Answer(result);
    }

    static async Task<IResult> Bulk(HttpContext http, IWorkflowMessageStore store, DashboardAccess access, BulkJobs jobs, PatternsDashboardOptions options,
        CancellationToken ct)
    {
        var (request, error) = await ReadAsync<BulkRequest>(http, 16L * 1024 * 1024, null, ct).ConfigureAwait(false);
        if (request is null)
            return error!;
        var action = request.Action?.Trim().ToLowerInvariant();
        if (action is not ("retry" or "discard"))
            return BadRequest($"action: '{request.Action}' is not retry or discard.");
        // A bulk action needs the policy of its action, like one message.
        if (await access.RefusalAsync(http, action == "retry" ? DashboardAction.Resubmit : DashboardAction.Discard).ConfigureAwait(false) is { } forbidden)
            return forbidden;
        var (actor, refusal) = await access.ActorAsync(http).ConfigureAwait(false);
        if (actor is null)
            return refusal!;
        var reason = string.IsNullOrWhiteSpace(request.Reason) ? null : request.Reason.Trim();
        if (action == "discard" && reason is null)
            return BadRequest("reason is required to discard (it is recorded in each message's audit).");
        if ((request.Ids is null) == (request.Filter is null))
            return BadRequest("Give either ids (a selection) or filter (a group), not both and not neither.");
        IReadOnlyList<Guid> ids = [];
        if (request.Ids is { } selection)
        {
            if (selection.Count > options.MaxBulkSize)
                return BadRequest($"{selection.Count} ids selected; PatternsDashboardOptions.MaxBulkSize allows {options.MaxBulkSize}.");
            ids = [.. selection.Distinct()];
        }
        var truncated = false;
        if (request.Ids is null)
        {
            // One more than allowed, to say when the group is larger than one job may cover.
            var matched = await store.IdsAsync(request.Filter!, options.MaxBulkSize + 1, ct).ConfigureAwait(false);
            truncated = matched.Count > options.MaxBulkSize;
            ids = truncated ? [.. matched.Take(options.MaxBulkSize)] : matched;
        }
        var job = jobs.Start(action, actor, reason, ids, truncated);
        return TypedResults.Accepted($"{http.Request.PathBase}{http.Request.Path.Value![..^"/bulk".Length]}/bulk/{job.Id}", job.Status());
    }

    static async Task<IResult> CancelBulk(Guid jobId, HttpContext http, DashboardAccess access, BulkJobs jobs)
    {
        if (jobs.Find(jobId) is not { } job)
            return NotFound(jobId);
        if (await access.RefusalAsync(http, job.Action == "retry" ? DashboardAction.Resubmit : DashboardAction.Discard).ConfigureAwait(false) is { } forbidden)
            return forbidden;
        await job.Cancellation.CancelAsync().ConfigureAwait(false);
        return TypedResults.Ok(job.Status());
    }

    static string Outcome(WorkflowCommandResult result) => result.Accepted ? "accepted, now " + result.State : $"refused ({result.Refusal}): {result.Reason}";

    static IResult Answer(WorkflowCommandResult result)
    {
        var response = new CommandResponse(result.CorrelationId, result.Accepted, result.State, result.Refusal.ToString(), result.Reason);
        return result.Accepted ? TypedResults.Ok(response) : Refused(response);
    }

    static IResult Refused(CommandResponse response) => TypedResults.Json(response, statusCode: response.Refusal switch
    {
        nameof(WorkflowCommandRefusal.NotFound) => StatusCodes.Status404NotFound,
        nameof(WorkflowCommandRefusal.Invalid) => StatusCodes.Status422UnprocessableEntity,
        _ => StatusCodes.Status409Conflict
    });

    static IResult Invalid(Guid id, string reason) => Refused(new CommandResponse(id, false, "", nameof(WorkflowCommandRefusal.Invalid), reason));

    static ProblemHttpResult BadRequest(string? detail) => TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Bad request", detail: detail);

    static ProblemHttpResult NotFound(Guid id) => TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: $"Nothing has the id {id}.");

    static ProblemHttpResult NoAnswer() => TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "No answer from the workflow processor",
        detail: "The workflow processor did not answer in time (is it running?). The command may still be applied when it does: reload the message before trying again.");

    static ProblemHttpResult TooLarge(string detail) => TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "Too large", detail: detail);

    /// <summary>Reads a JSON request body of at most <paramref name="limit"/> bytes (413 beyond it; 400 when it is not the JSON expected).</summary>
    static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpContext http, long limit, int? bodyLimit, CancellationToken ct, bool allowEmpty = false)
        where T : class
    {
        var tooLarge = TooLarge(bodyLimit is { } b
            ? $"The request is larger than an edit of at most PatternsDashboardOptions.MaxBodyBytes ({b}) bytes can be."
            : $"The request is larger than {limit} bytes.");
        if (http.Request.ContentLength > limit)
            return (null, tooLarge);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
                return (null, tooLarge);
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0)
            return allowEmpty ? (null, null) : (null, BadRequest("The request has no body: send JSON."));
        try
        {
            var value = JsonSerializer.Deserialize<T>(buffer.ToArray(), Json);
            return value is null ? (null, BadRequest("The request body is null: send a JSON object.")) : (value, null);
        }
        catch (JsonException e)
        {
            return (null, BadRequest($"The request body is not the JSON expected: {e.Message}"));
        }
    }
}
