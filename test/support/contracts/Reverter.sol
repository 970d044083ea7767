// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

/// Calls that succeed, revert with a reason, or revert with a custom error: for simulation and receipt tests.
contract Reverter {
    error NotAllowed(address caller, uint256 code);

    uint256 public stored;

    event Stored(uint256 value);

    function store(uint256 value) external payable {
        stored = value;
        emit Stored(value);
    }

    function fail() external pure {
        revert("Reverter: always fails");
    }

    function failCustom(uint256 code) external view {
        revert NotAllowed(msg.sender, code);
    }

    /// Succeeds in a simulation before `value` is stored, reverts afterwards.
    function storeOnce(uint256 value) external {
        require(stored != value, "Reverter: already stored");
        stored = value;
        emit Stored(value);
    }
}
