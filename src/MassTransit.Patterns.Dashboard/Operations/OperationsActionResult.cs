using Microsoft.AspNetCore.Http;

namespace MassTransit.Patterns.Dashboard.Operations;

/// <summary>The outcome of an operations action: its HTTP status and a sentence saying what happened (also the audit's outcome).</summary>
/// <param name="Status">200 done, 404 the target does not exist, 409 not possible in the current state, 422 invalid request.</param>
/// <param name="Outcome">What happened, for the person and the audit.</param>
/// <param name="Target">What the action acted on (a key, a broker), for the audit.</param>
sealed record OperationsActionResult(int Status, string Outcome, string? Target = null)
{
    public bool Succeeded => Status is >= 200 and < 300;

    public static OperationsActionResult Done(string outcome, string? target = null) => new(StatusCodes.Status200OK, outcome, target);

    public static OperationsActionResult NotFound(string outcome, string? target = null) => new(StatusCodes.Status404NotFound, outcome, target);

    public static OperationsActionResult Conflict(string outcome, string? target = null) => new(StatusCodes.Status409Conflict, outcome, target);

    public static OperationsActionResult Invalid(string outcome, string? target = null) => new(StatusCodes.Status422UnprocessableEntity, outcome, target);
}
